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

Every page, on a phone in the light and the dark colour scheme, with no network: no console error or warning, no
request leaving the site, no sideways page scroll, images loaded with alt text, one h1 and no skipped heading level,
readable contrast, every internal link and #anchor resolved as the browser resolves it; at 1366 px no table wider than
its column; the search typed into a moved copy of the site (a folder name with a space) finds the chapter.

Screenshots go to $GPUVISION_SCREENSHOTS (default _build/screenshots/): index.png, chapter.png, progress-bar.png,
slider.png, search.png, maths.png, sidebar-open-{1400,390}.png, sidebar-closed-1400.png, contents-open-390.png,
chapter-bar-{1400,390}.png, figure-{1400,390}.png, jupyterlab-progress-bar.png, jupyterlab-slider.png,
jupyterlab-slider-trusted.png, jupyterlab-untouched.png, audit-{index,07_amp,12_video,A1_supervisor,90_cli}-{390-light,
390-dark,1366-light}.png, search-typed-{390,1366}.png.
"""
import json, os, shutil, socket, subprocess, sys, time
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
    # No network: every host name fails to resolve (but the local JupyterLab server's), so a page that needs anything
    # from outside the site shows it, as it would on a machine with no connection.
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars",
              f"--user-data-dir={tmp / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
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


# Every page, as a hostile tester with a browser sees it -----------------------------------------------------------
# One visit per page and colour scheme, on a phone (390 px): no console error or warning, nothing requested from outside
# the site, no sideways page scroll (wide code, tables, signatures and charts scroll inside their own box), every image
# loaded, with alt text, inside the screen or a box that scrolls; one visible h1 and no skipped heading level; body text,
# headings and links readable (WCAG AA contrast: 4.5:1, 3:1 for large text) in the light and the dark scheme; every
# link inside the site (as the browser resolves it) reaches a file, and its #anchor an element of that page.
AUDIT = r"""
const W = document.documentElement.clientWidth, out = {};
const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const scrolls = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement)
                          if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return p; return null; };
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + el.textContent.trim().slice(0, 50) + '"';
out.hscroll = document.documentElement.scrollWidth - W;
out.wide = [];                          // what sticks out of the page, not inside a box of its own that scrolls
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width && r.right > W + 1 && !scrolls(el) && getComputedStyle(el).position !== 'fixed' &&
      el.parentElement.getBoundingClientRect().right <= W + 1) out.wide.push(name(el));
}
out.h1 = Array.from(document.querySelectorAll('h1')).filter(shown).length;
out.skips = []; let level = 0;
for (const h of Array.from(document.querySelectorAll('article.bd-article :is(h1,h2,h3,h4,h5,h6)')).filter(shown)) {
  const n = +h.tagName[1]; if (level && n > level + 1) out.skips.push(`h${level} → ${name(h)}`); level = n;
}
out.images = Array.from(document.images).filter(i => shown(i) || i.closest('article')).flatMap(i => {
  const box = scrolls(i), right = (box || i).getBoundingClientRect().right;
  return [!i.complete || !i.naturalWidth ? 'not loaded' : '', (i.getAttribute('alt') || '').trim() ? '' : 'no alt text',
          right > W + 1 ? `${Math.round(right)} px wide` : ''].filter(Boolean).map(m => `${i.getAttribute('src')}: ${m}`);
});
const rgba = c => { const m = c.match(/[\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
const lum = c => c.slice(0, 3).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
                  .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
function background(el) {               // the colour behind `el`: its own and its ancestors' backgrounds, blended
  const layers = [];
  for (let p = el; p; p = p.parentElement) { const c = rgba(getComputedStyle(p).backgroundColor); if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
  return layers.reverse().reduce((b, c) => b.map((v, i) => v * (1 - c[3]) + c[i] * c[3]), [255, 255, 255]);
}
out.contrast = []; const seen = new Set();     // every element with text of its own, code and outputs included
for (const el of document.querySelectorAll('.bd-main *, nav *')) {
  if (!shown(el) || !Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const s = getComputedStyle(el), bg = background(el), fg = rgba(s.color);
  const text = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
  const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a), ratio = (hi + 0.05) / (lo + 0.05);
  const size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && +s.fontWeight >= 700);
  const key = `${el.tagName} ${el.className} ${s.color} on ${bg.map(Math.round)}`;
  if (ratio < (large ? 3 : 4.5) && !seen.has(key)) { seen.add(key); out.contrast.push(`${name(el)}: ${ratio.toFixed(2)}:1 (${key})`); }
}
out.cramped = [];                               // table cells whose text touches the next cell's ("792 ms11.4 ms")
for (const row of document.querySelectorAll('article tr')) {
  const cells = Array.from(row.children).filter(shown);
  for (let i = 1; i < cells.length; i++) {
    const gap = [cells[i - 1], cells[i]].map(c => getComputedStyle(c)).reduce((g, s, j) => g + parseFloat(j ? s.paddingLeft : s.paddingRight), 0);
    if (gap < 6 && cells[i - 1].textContent.trim() && cells[i].textContent.trim()) { out.cramped.push(name(row)); break; }
  }
  if (out.cramped.length) break;
}
out.links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
out.ids = Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name'));
return out;
"""
SETTLED = """const done = arguments[arguments.length - 1];
Promise.all([document.fonts.ready, window.MathJax && MathJax.startup ? MathJax.startup.promise : null]).then(() => done(true));"""
PHONE, DESKTOP = (390, 844), (1366, 900)
SHOWN = ("index", "07_amp", "12_video", "A1_supervisor", "90_cli")          # screenshots: audit-{page}-{width}-{scheme}.png


def pages_of(site: Path) -> list[Path]:
    "Every HTML page of the site (not the theme's templates)."
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def colour_scheme(d, scheme: str) -> None:
    "The browser's preferred colour scheme, as a reader's system setting gives it (the theme follows it: 'auto')."
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})


def console_problems(d) -> list[str]:
    "Errors and warnings the pages logged since the last call (scripts, failed loads, the themes' own warnings)."
    return [e["message"] for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def open_settled(d, url: str) -> None:
    "Load `url` and wait until its web fonts are in and MathJax has typeset (both change the layout)."
    d.get(url)
    d.execute_async_script(SETTLED)


def in_site(url: str, site: Path) -> bool:
    "True for a file: URL of a file inside `site` (the absolute folder the pages were opened from)."
    s = urlsplit(url)
    return s.scheme == "file" and unquote(s.path).startswith(f"{site}/")


def outside(urls: list[str], site: Path) -> list[str]:
    "The requested URLs that are not files of `site` (another host, another folder of the disk)."
    return [u for u in urls if not (in_site(u, site) or u.startswith(("data:", "blob:", "chrome:", "devtools:")) or u == "about:blank")]


def broken(links: dict[str, list[str]], ids: dict[str, set], site: Path) -> list[str]:
    """`page: url` for each link to a file of `site` that is missing, or to an #anchor that the page does not have
    (`ids`: {absolute path of a page: the ids the browser found in it})."""
    out = []
    for page, urls in links.items():
        for url in filter(lambda u: in_site(u, site), urls):
            s = urlsplit(url)
            target = unquote(s.path)
            if not Path(target).is_file(): out.append(f"{page}: {url} (no such file)")
            elif s.fragment and target.endswith(".html") and unquote(s.fragment) not in ids.get(target, ()):
                out.append(f"{page}: {url} (no such anchor)")
    return out


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_on_a_phone(browser, site, scheme):
    d, site = browser, site.absolute()
    colour_scheme(d, scheme)
    d.set_window_size(*PHONE)
    try:
        d.get((site / "index.html").as_uri()); d.execute_script("localStorage.clear()")   # a first visit, as a new reader's
        console_problems(d); requested(d)
        problems, links, ids = [], {}, {}
        for path in pages_of(site):
            rel = path.relative_to(site).as_posix()
            open_settled(d, path.as_uri())
            r = d.execute_script(AUDIT)
            links[rel], ids[str(path)] = r["links"], set(r["ids"])
            problems += [f"{rel}: console: {m}" for m in console_problems(d)]
            problems += [f"{rel}: fetched {u}" for u in outside(requested(d), site)]
            if r["hscroll"] > 0: problems.append(f"{rel}: the page scrolls sideways by {r['hscroll']} px: {r['wide'][:3]}")
            if r["h1"] != 1: problems.append(f"{rel}: {r['h1']} visible h1 headings")
            problems += [f"{rel}: heading level skipped: {s}" for s in r["skips"]]
            problems += [f"{rel}: image {m}" for m in r["images"]]
            problems += [f"{rel}: contrast {m}" for m in r["contrast"]]
            problems += [f"{rel}: table cells with no space between them: {m}" for m in r["cramped"]]
            if path.stem in SHOWN: d.save_screenshot(str(SHOTS / f"audit-{path.stem}-{PHONE[0]}-{scheme}.png"))
        problems += broken(links, ids, site)
        assert not problems, "\n".join(problems[:40])
    finally:
        colour_scheme(d, "light"); d.set_window_size(1280, 900)


TABLES_WIDER = """
const box = t => { for (let p = t; p && p.tagName !== 'ARTICLE'; p = p.parentElement)      // the box it scrolls in
                     if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return p; return t; };
return [document.documentElement.scrollWidth - document.documentElement.clientWidth,
        Array.from(document.querySelectorAll('article table')).filter(t => box(t).scrollWidth > box(t).clientWidth + 1)
             .map(t => t.textContent.trim().slice(0, 60))];
"""


def test_tables_and_code_fit_a_desktop_page(browser, site):
    """At 1366 px no table needs sideways scrolling and no page does (A1's table of tests was 1,268 px wide in a 757 px
    column); no console error or warning and no request outside the site at this width either."""
    d, site = browser, site.absolute()
    d.set_window_size(*DESKTOP)
    try:
        console_problems(d); requested(d)
        problems = []
        for path in pages_of(site):
            open_settled(d, path.as_uri())
            problems += [f"{path.relative_to(site)}: console: {m}" for m in console_problems(d)]
            problems += [f"{path.relative_to(site)}: fetched {u}" for u in outside(requested(d), site)]
            wide = d.execute_script(TABLES_WIDER)
            if wide[0] > 0 or wide[1]: problems.append(f"{path.relative_to(site)}: page {wide[0]} px too wide; tables {wide[1]}")
            if path.stem in SHOWN: d.save_screenshot(str(SHOTS / f"audit-{path.stem}-{DESKTOP[0]}-light.png"))
        assert not problems, "\n".join(problems)
    finally:
        d.set_window_size(1280, 900)


def test_search_typed_in_a_moved_copy(browser, site, tmp_path):
    """The site copied to another folder (a name with a space and brackets), opened from the file: on a chapter the
    reader opens the search box, types a word of chapter 07 and gets chapter 07, with no console error (Sphinx fetched
    each hit's page for a summary, which a page from file:// may not: "Failed to fetch" per hit); the hit opens."""
    d = browser
    moved = tmp_path / "my course (copy)"
    shutil.copytree(site, moved)
    for width, height in (PHONE, DESKTOP):
        d.set_window_size(width, height)
        open_settled(d, (moved / "03_data.html").as_uri())
        console_problems(d)
        [b for b in d.find_elements(By.CSS_SELECTOR, "button.search-button__button") if b.is_displayed()][0].click()
        box = WebDriverWait(d, 5).until(lambda d: [i for i in d.find_elements(By.CSS_SELECTOR, "input[name=q]") if i.is_displayed()])[0]
        box.send_keys("underflow", Keys.ENTER)
        hits = WebDriverWait(d, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li a"))
        WebDriverWait(d, 20).until(lambda d: "Search finished" in d.find_element(By.ID, "search-results").text)
        d.save_screenshot(str(SHOTS / f"search-typed-{width}.png"))
        assert any(h.get_attribute("href").endswith("07_amp.html") for h in hits), [h.get_attribute("href") for h in hits]
        assert not console_problems(d)
        next(h for h in hits if h.get_attribute("href").endswith("07_amp.html")).click()
        WebDriverWait(d, 10).until(EC.title_contains("Mixed precision"))
        assert in_site(d.current_url, moved)
    d.set_window_size(1280, 900)


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
