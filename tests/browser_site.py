"""Browser tests of the course as readers see it (`make browser-test`; not part of `make test`): headless Chromium
(Debian's chromium + chromedriver) driven by selenium.

Site (built by `make html` into _site/, opened from file://, so it must work without a server and offline):
open the index, follow a chapter link, check that a formula is typeset by the bundled MathJax, run a search, and
check that no page requested anything but local files. JupyterLab 4: a stored notebook opened without running it
shows the final progress bar and the slider's initial position — as static fallbacks when the notebook is untrusted
(every fresh clone), as restored live widgets once it is trusted.

Screenshots go to $GPUVISION_SCREENSHOTS (default _build/screenshots/): index.png, chapter.png, progress-bar.png,
slider.png, search.png, maths.png, jupyterlab-progress-bar.png, jupyterlab-slider.png, jupyterlab-slider-trusted.png.
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
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()): pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(DRIVER))
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


# JupyterLab 4 ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "A JupyterLab server on 127.0.0.1 over copies of the two widget chapters (untrusted, as in a fresh clone) and a trusted copy of 08."
    if not shutil.which("jupyter-lab"): pytest.skip("needs jupyterlab")
    work = tmp_path_factory.mktemp("lab")
    for nb in ("06_train.ipynb", "08_prune.ipynb"): shutil.copy(ROOT / "nbs" / nb, work / nb)
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


def test_jupyterlab_trusted_restores_widgets(browser, lab):
    base, _, _ = lab
    els = open_in_lab(browser, f"{base}/lab/tree/trusted-08_prune.ipynb", ".jp-OutputArea-output .widget-slider .slider-container")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", els[0]); time.sleep(1)
    browser.save_screenshot(str(SHOTS / "jupyterlab-slider-trusted.png"))
    # the track: 82 px for 20 steps with ipywidgets' default layout; pruning_slider asks for ~25 px per 5 % step
    assert len(els) == 2 and all(e.size["width"] >= 300 for e in els), [e.size for e in els]
