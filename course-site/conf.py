# Sphinx configuration of the course website (`make html` → _site/). The source pages are not here: tools/website.py
# stages the notebooks of nbs/ (with their stored outputs; nothing is executed) and the API pages into
# _build/site-src/, then runs sphinx-build with this folder as its configuration directory.
# Everything a page loads is bundled in _site/: no CDN, no external script, stylesheet or font (tests/test_site.py).
project = "gpuvision-nb"
author = "gpuvision-nb contributors"
copyright = "2026 onwards, gpuvision-nb contributors"
html_title = "gpuvision-nb"
language = "en"

extensions = [
    "myst_nb",                    # notebooks (stored outputs) and Markdown pages
    "sphinx.ext.autodoc",         # the API reference, from the docstrings of gpuvision_nb
    "sphinx-mathjax-offline",     # MathJax 3 copied into _static/mathjax/ (no CDN)
    "sphinx_copybutton",          # a copy button on every code cell (its clipboard.js is bundled: no CDN)
]

# Copy buttons on code (cells and code blocks), not on outputs; prompts (`$ `, `>>> `) are not copied.
copybutton_selector = "div.highlight pre:not(.cell_output pre)"
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# Notebooks: render what is stored, never execute; no widget JavaScript from a CDN (tools/nbwidgets.py gives every
# widget output a static HTML picture of its stored state instead).
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_output_stderr = "remove"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

autodoc_member_order = "bysource"
add_module_names = False          # `set_rng_state(state: dict)`, not `gpuvision_nb.checkpoint.set_rng_state(…)` (the page names the module)
autodoc_typehints = "signature"
default_role = "code"             # docstrings write `name` for code, as Markdown does

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
    "article_header_start": ["toggle-primary-sidebar"],
}
# "auto": light or dark as the reader's browser prefers. Unset, every first visit logged "Got invalid theme mode".
# gv_tagline: the front page's <title> (_templates/layout.html) is "gpuvision-nb: <what it is>", not "gpuvision-nb — gpuvision-nb".
import configparser as _cp
_settings = _cp.ConfigParser(); _settings.read(__import__("pathlib").Path(__file__).resolve().parents[1] / "settings.ini")
html_context = {"default_mode": "auto", "gv_tagline": _settings["DEFAULT"].get("description", "").split(":")[0].strip()}
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["gpuvision.css"]
html_js_files = ["gv-site.js"]          # visible sidebar toggles that work, charts legible on a phone (see the file)
# The chapters as notebooks, to download (tools/website.py copies nbs/*.ipynb there before the build).
# ($GV_SITE_EXTRA: where this build staged them; each build of tools/website.py stages into a folder of its own.)
html_extra_path = [__import__("os").environ.get("GV_SITE_EXTRA") or
                   str(__import__("pathlib").Path(__file__).resolve().parents[1] / "_build" / "site-extra")]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None


# The library's docstrings are written like Markdown (`code`, `Timing`s, |x|, a * b), not reStructuredText: turn their
# code spans into reST literals and escape the characters reST would read as markup, so autodoc renders them as written.
import re

_SPAN = re.compile(r"`([^`]+)`")


def _rest_line(line: str) -> str:
    parts = _SPAN.split(line)
    out = []
    for i, part in enumerate(parts):
        if i % 2: out.append(f"``{part}``" + ("\\ " if i + 1 < len(parts) and re.match(r"\w", parts[i + 1]) else ""))
        else: out.append(re.sub(r"([*|_\\])", r"\\\1", part))
    return "".join(out)


def markdown_docstring(app, what, name, obj, options, lines):
    lines[:] = [_rest_line(l) for l in lines]


def setup(app):
    app.connect("autodoc-process-docstring", markdown_docstring)
