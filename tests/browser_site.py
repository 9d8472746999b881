"""Browser tests of the course as readers see it (`make browser-test`; not part of `make test`): headless Chromium
(Debian's chromium + chromedriver) driven by selenium.

Site (built by `make html` into _site/, opened from file://, so it must work without a server and offline):
open the index, follow a chapter link, check that a formula is typeset by the bundled MathJax, run a search, and
check that no page requested anything but local files. JupyterLab 4: a stored notebook opened without running it
shows the final progress bar and the slider's initial position as static pictures, untrusted (every fresh clone) and
trusted alike, with no red "disconnected" widget icons; an untouched notebook is not marked modified on opening.

At 1400 px and at 390 px (a phone): the visible sidebar toggles open and close the chapter list and the page contents
(on a phone as dialogs, from which a chapter link is followed); each chapter's bar links the index, the notebook to
download, JupyterLab (Binder) and Colab and says what it needs; code cells have copy buttons; every chart has alt
text and a caption and is shown at no less than 70 % of its drawn size.

Screenshots go to $GPUVISION_SCREENSHOTS (default _build/screenshots/): index.png, chapter.png, progress-bar.png,
slider.png, search.png, maths.png, sidebar-open-{1400,390}.png, sidebar-closed-1400.png, contents-open-390.png,
chapter-bar-{1400,390}.png, figure-{1400,390}.png, jupyterlab-progress-bar.png, jupyterlab-slider.png,
jupyterlab-slider-trusted.png, jupyterlab-untouched.png.
"""
import json, os, shutil, socket, subprocess, sys, time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("GPUVISION_SITE", ROOT / "_site"))
SHOTS = Path(os.environ.get("GPUVISION_SCREENSHOTS", ROOT / "_build" / "screenshots"))
CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()): pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    # its profile and scratch folders (org.chromium.Chromium.*) go under pytest's tmp, not into /tmp for good
    tmp = tmp_path_factory.mktemp("chromium")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars",
              f"--user-data-dir={tmp / 'profile'}"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(DRIVER, env={**os.environ, "TMPDIR": str(tmp)}))
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()


def requested(d) -> list[str]:
    "URLs the browser requested since the last call (from Chrome's performance log)."
    urls = []
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent": urls.append(msg["params"]["request"]["url"])
    return urls


def shoot_element(d, css: str, name: str, pad: int = 120):
    "Scroll `css` into the middle of the window and save a screenshot of the window."
    el = d.find_element(By.CSS_SELECTOR, css)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    time.sleep(0.5)
    d.save_screenshot(str(SHOTS / name))
    return el


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists(): pytest.skip(f"no site in {SITE}: run `make html` first")
    return SITE


def test_index_then_a_chapter(browser, site):
    d = browser
    d.get((site / "index.html").as_uri())
    assert d.title.startswith("gpuvision-nb")
    d.save_screenshot(str(SHOTS / "index.png"))
    link = d.find_element(By.CSS_SELECTOR, "article a[href='06_train.html']")
    link.click()
    WebDriverWait(d, 10).until(EC.url_contains("06_train.html"))
    assert d.title.startswith("A training loop that keeps the GPU busy"), d.title
    assert d.find_elements(By.CSS_SELECTOR, ".bd-sidebar-primary a[href='07_amp.html']"), "sidebar navigation"
    assert d.find_elements(By.CSS_SELECTOR, "a.right-next"), "previous/next links"
    assert d.find_elements(By.CSS_SELECTOR, ".bd-toc-nav a, #pst-page-navigation-heading-2"), "per-page contents"
    d.save_screenshot(str(SHOTS / "chapter.png"))


def test_stored_progress_bar(browser, site):
    d = browser
    d.get((site / "06_train.html").as_uri())
    el = shoot_element(d, ".gv-widget-static progress", "progress-bar.png")
    assert float(el.get_attribute("value")) == 1.0
    assert "fit: 100%" in d.find_element(By.CSS_SELECTOR, ".gv-widget-static").text


def test_stored_slider(browser, site):
    d = browser
    d.get((site / "08_prune.html").as_uri())
    el = shoot_element(d, ".gv-widget-static input[type=range]", "slider.png")
    assert el.size["width"] >= 300, el.size
    text = d.find_element(By.CSS_SELECTOR, ".gv-widget-static").text
    assert "structured pruning" in text and "non-zero parameters" in text


def test_maths_is_typeset_offline(browser, site):
    d = browser
    requested(d)
    d.get((site / "01_device.html").as_uri())
    WebDriverWait(d, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "mjx-container"))
    shoot_element(d, "mjx-container", "maths.png")
    outside = [u for u in requested(d) if not u.startswith(("file:", "data:", "blob:"))]
    assert not outside, outside


def test_search(browser, site):
    d = browser
    d.get((site / "search.html").as_uri() + "?q=GradScaler")
    WebDriverWait(d, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li, ul.search li"))
    hits = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#search-results li a, ul.search li a")]
    assert any("07_amp.html" in h for h in hits), hits
    d.save_screenshot(str(SHOTS / "search.png"))


# A phone and a wide screen ------------------------------------------------------------------------------------------
WIDTHS = [1400, 390]
HASH = __import__("re").compile(r"^[0-9a-f]{16,}(\.\w+)?$")


@pytest.fixture
def width(browser, request):
    "The window at `request.param` px wide (innerWidth), back to 1280 px after the test."
    browser.set_window_size(request.param, 900)
    yield request.param
    browser.set_window_size(1280, 900)


def visible_toggle(d, kind: str):
    "The sidebar toggle a reader sees (the article header's), not the hidden navbar one the themes' scripts bind."
    shown = [b for b in d.find_elements(By.CSS_SELECTOR, f"button.{kind}-toggle") if b.is_displayed()]
    assert len(shown) == 1, f"{len(shown)} visible {kind} toggles"
    return shown[0]


def dialog_open(d, name: str) -> bool:
    return d.execute_script(f"return document.getElementById('pst-{name}-sidebar-modal').open")


def click_toggle(d, kind: str, until) -> None:
    "Click the visible `kind` sidebar toggle and wait until `until(d)` holds (the sidebar or its dialog changed)."
    visible_toggle(d, kind).click()
    WebDriverWait(d, 5).until(until)


@pytest.mark.parametrize("width", WIDTHS, indirect=True)
def test_sidebar_toggles_open_and_close_the_sidebars(browser, site, width):
    "The visible toggles work: on a phone the chapter list opens as a dialog and a chapter link in it is followed."
    d = browser
    d.get((site / "06_train.html").as_uri())
    primary = d.find_element(By.ID, "pst-primary-sidebar")
    if width >= 992:                                         # a column that the toggle collapses and brings back
        assert primary.is_displayed()
        click_toggle(d, "primary", lambda d: not primary.is_displayed())
        d.save_screenshot(str(SHOTS / f"sidebar-closed-{width}.png"))
        click_toggle(d, "primary", lambda d: primary.is_displayed())
        d.save_screenshot(str(SHOTS / f"sidebar-open-{width}.png"))
        secondary = d.find_element(By.ID, "pst-secondary-sidebar")
        assert secondary.is_displayed()
        click_toggle(d, "secondary", lambda d: not secondary.is_displayed())
        click_toggle(d, "secondary", lambda d: secondary.is_displayed())
    else:                                                    # hidden off-screen; the toggle opens it as a dialog
        assert not primary.is_displayed()
        click_toggle(d, "primary", lambda d: dialog_open(d, "primary"))
        link = d.find_element(By.CSS_SELECTOR, "#pst-primary-sidebar-modal a[href='07_amp.html']")
        assert link.is_displayed()
        time.sleep(0.5)
        d.save_screenshot(str(SHOTS / f"sidebar-open-{width}.png"))
        ActionChains(d).send_keys(Keys.ESCAPE).perform()      # to the focused element, inside the dialog
        WebDriverWait(d, 5).until(lambda d: not dialog_open(d, "primary"))
        click_toggle(d, "secondary", lambda d: dialog_open(d, "secondary"))
        assert [a for a in d.find_elements(By.CSS_SELECTOR, "#pst-secondary-sidebar-modal a") if a.is_displayed()]
        time.sleep(0.5)
        d.save_screenshot(str(SHOTS / f"contents-open-{width}.png"))
        ActionChains(d).send_keys(Keys.ESCAPE).perform()      # to the focused element, inside the dialog
        WebDriverWait(d, 5).until(lambda d: not dialog_open(d, "secondary"))
        click_toggle(d, "primary", lambda d: dialog_open(d, "primary"))
        d.find_element(By.CSS_SELECTOR, "#pst-primary-sidebar-modal a[href='07_amp.html']").click()
        WebDriverWait(d, 10).until(EC.url_contains("07_amp.html"))


@pytest.mark.parametrize("width", WIDTHS, indirect=True)
def test_chapter_bar_copy_buttons_and_figures(browser, site, width):
    "Index link, notebook download, JupyterLab/Colab links, requirements; copy buttons on code; captioned, legible charts."
    d = browser
    d.get((site / "13_distributed.html").as_uri())
    bar = d.find_element(By.CSS_SELECTOR, ".gv-chapter-bar")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar); time.sleep(0.3)
    d.save_screenshot(str(SHOTS / f"chapter-bar-{width}.png"))
    index = bar.find_element(By.CSS_SELECTOR, "a.gv-index-link")
    assert index.is_displayed() and index.get_attribute("href").endswith("/index.html")
    download = bar.find_element(By.CSS_SELECTOR, "a.gv-download")
    assert download.is_displayed() and download.get_attribute("download") == "13_distributed.ipynb"
    assert (site / "notebooks" / "13_distributed.ipynb").read_bytes() == (ROOT / "nbs" / "13_distributed.ipynb").read_bytes()
    assert "colab.research.google.com" in bar.find_element(By.CSS_SELECTOR, "a.gv-open-colab").get_attribute("href")
    assert "labpath=nbs/13_distributed.ipynb" in bar.find_element(By.CSS_SELECTOR, "a.gv-open-lab").get_attribute("href")
    assert "Needs Python" in bar.find_element(By.CSS_SELECTOR, ".gv-needs").text
    # copy buttons: on code cells, not on outputs
    assert d.find_elements(By.CSS_SELECTOR, ".cell_input button.copybtn")
    assert not d.find_elements(By.CSS_SELECTOR, ".cell_output button.copybtn")
    # figures: meaningful alt text, a caption, and text no smaller than 70 % of its drawn size
    imgs = d.find_elements(By.CSS_SELECTOR, ".cell_output img")
    assert len(imgs) >= 3
    for img in imgs:
        alt = img.get_attribute("alt")
        assert alt and not HASH.match(alt) and len(alt.split()) >= 3, alt
        assert img.find_element(By.XPATH, "./ancestor::figure//figcaption").text.startswith("Figure 13.")
        scale = d.execute_script("return arguments[0].clientWidth / arguments[0].naturalWidth", img)
        assert scale >= 0.69, (alt, scale)
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", imgs[1]); time.sleep(0.3)
    d.save_screenshot(str(SHOTS / f"figure-{width}.png"))


# JupyterLab 4 ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "A JupyterLab server on 127.0.0.1 over copies of the two widget chapters (untrusted, as in a fresh clone) and a trusted copy of 08."
    if not shutil.which("jupyter-lab"): pytest.skip("needs jupyterlab")
    work = tmp_path_factory.mktemp("lab")
    for nb in ("01_device.ipynb", "06_train.ipynb", "08_prune.ipynb"): shutil.copy(ROOT / "nbs" / nb, work / nb)
    # A trusted copy (trusted before the server starts, which doesn't see later changes). Trust is recorded by a hash
    # of the content, so the copy must differ from the untrusted one, or that one would count as trusted too.
    nb = json.loads((ROOT / "nbs" / "08_prune.ipynb").read_text(encoding="utf-8"))
    nb["metadata"]["title"] = "trusted copy"
    (work / "trusted-08_prune.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    settings = work / "settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port = free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"), "JUPYTER_CONFIG_DIR": str(work / "config"),
           "JUPYTER_DATA_DIR": str(work / "data"), "PYTHONPATH": str(ROOT)}
    subprocess.run(["jupyter", "trust", str(work / "trusted-08_prune.ipynb")], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(["jupyter-lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", "--ServerApp.token=",
                             "--ServerApp.password=", f"--ServerApp.root_dir={work}", "--allow-root"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(60):
            try: socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
            except OSError: time.sleep(1)
        yield f"http://127.0.0.1:{port}", work, env
    finally:
        proc.terminate(); proc.wait(timeout=30)


def open_in_lab(d, url: str, css: str):
    d.get(url)
    return WebDriverWait(d, 180).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))   # a busy 2-core box is slow


def test_jupyterlab_untrusted_shows_static_fallbacks(browser, lab):
    base, _, _ = lab
    els = open_in_lab(browser, f"{base}/lab/tree/06_train.ipynb", ".jp-OutputArea-output .gv-widget-static progress")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", els[0]); time.sleep(1)
    browser.save_screenshot(str(SHOTS / "jupyterlab-progress-bar.png"))
    assert any("fit: 100%" in e.find_element(By.XPATH, "./ancestor::div[contains(@class,'gv-widget-static')]").text for e in els)
    els = open_in_lab(browser, f"{base}/lab/tree/08_prune.ipynb", ".jp-OutputArea-output .gv-widget-static input[type=range]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", els[0]); time.sleep(1)
    browser.save_screenshot(str(SHOTS / "jupyterlab-slider.png"))
    assert len(els) == 2


def test_jupyterlab_trusted_shows_sliders_without_disconnected_icons(browser, lab):
    """A trusted notebook showed each restored widget with a red "disconnected" icon (no kernel behind it) and a slider
    that moved but changed nothing; stored as static pictures (tools/normalize_nbs.py --static-widgets) it shows the
    slider at its position, as everywhere else."""
    base, _, _ = lab
    css = ".jp-OutputArea-output .widget-slider .slider-container, .jp-OutputArea-output .gv-widget-static input[type=range]"
    open_in_lab(browser, f"{base}/lab/tree/trusted-08_prune.ipynb", css)
    time.sleep(2)                                                          # both outputs rendered and laid out
    els = [e for e in browser.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", els[0]); time.sleep(1)
    browser.save_screenshot(str(SHOTS / "jupyterlab-slider-trusted.png"))
    # the track: 82 px for 20 steps with ipywidgets' default layout; pruning_slider asks for ~25 px per 5 % step
    assert len(els) == 2 and all(e.size["width"] >= 300 for e in els), [e.size for e in els]
    assert not browser.find_elements(By.CSS_SELECTOR, ".jupyter-widgets-disconnected"), "red 'disconnected' widget icons"


def test_jupyterlab_untouched_notebook_is_not_modified(browser, lab):
    """Opening a notebook and letting its kernel start must not mark it modified: JupyterLab writes the kernel's
    kernelspec and language_info (Python's full version included), so the stored ones must match
    (tools/normalize_nbs.py, run with this Python)."""
    base, _, _ = lab
    open_in_lab(browser, f"{base}/lab/tree/01_device.ipynb", ".jp-Notebook .jp-Cell")
    WebDriverWait(browser, 180).until(lambda d: "| Idle" in d.find_element(By.TAG_NAME, "body").text)
    time.sleep(3)
    tab = browser.find_element(By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-current")
    browser.save_screenshot(str(SHOTS / "jupyterlab-untouched.png"))
    assert "01_device" in tab.text and "jp-mod-dirty" not in tab.get_attribute("class"), "marked modified on opening"
