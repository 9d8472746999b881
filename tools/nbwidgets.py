"""Static fallbacks for the ipywidgets outputs of an executed notebook, made from its stored widget state.

A widget output (`application/vnd.jupyter.widget-view+json`) is a reference to a model that lives in a running
kernel. Executed with widget state stored (`tools/execute.py`), the notebook's metadata keeps every model's final
state, which JupyterLab restores in a trusted notebook. Everywhere else — an untrusted notebook (every freshly
cloned one), GitHub, nbviewer, the static site — a viewer falls back to the output's other MIME types, which
Jupyter sets once, when the widget is first displayed: a progress bar frozen at `fit: 0%`, a slider as its Python
repr. `add_fallbacks` replaces those with what the stored state says: `text/plain` (the final bar as text, the
slider's initial position and its output) and `text/html` (the same as plain HTML elements, with no script).

Only the widgets the course uses are drawn (boxes, HTML/Label, progress bars, sliders, Output); any other model is
shown as its name and value.
"""
from __future__ import annotations

import html
import re

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
TAG = re.compile(r"<[^>]+>")


def widget_state(nb) -> dict:
    "{model_id: {'model_name': ..., 'state': {...}}} stored in notebook `nb`'s metadata (empty if none)."
    return nb.get("metadata", {}).get("widgets", {}).get(STATE, {}).get("state", {})


def _ref(value) -> str | None:
    "The model id of an `IPY_MODEL_<id>` reference, else None."
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def _plain(s: str) -> str:
    "Visible text of a widget's HTML value (tags dropped, entities and tqdm's figure spaces resolved)."
    return html.unescape(TAG.sub("", s or "")).replace("\u2007", " ")


def _fmt(value, fmt: str | None) -> str:
    "A slider value as its readout shows it (e.g. readout_format '.0%')."
    try: return format(value, fmt or ".2f")
    except (TypeError, ValueError): return str(value)


def _output_text(outputs: list) -> str:
    "The text an Output widget holds: streams and text/plain results."
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream": parts.append(o.get("text", ""))
        elif "data" in o: parts.append(o["data"].get("text/plain", ""))
    return "".join("".join(p) if isinstance(p, list) else p for p in parts).rstrip("\n")


def _output_html(outputs: list) -> str:
    "An Output widget's outputs as HTML: text in <pre>, images inline, HTML as is."
    parts = []
    for o in outputs:
        data = o.get("data", {})
        if o.get("output_type") == "stream": parts.append(f"<pre>{html.escape(''.join(o.get('text', '')))}</pre>")
        elif "image/png" in data: parts.append(f"<img alt='output' src='data:image/png;base64,{''.join(data['image/png']).strip()}'>")
        elif "text/html" in data: parts.append("".join(data["text/html"]))
        elif "text/plain" in data: parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
    return "".join(parts)


def _children(s: dict) -> list[str]:
    return [m for m in map(_ref, s.get("children", [])) if m]


def _progress(s: dict) -> tuple[float, str]:
    "Fraction done and tqdm-style bar text of a progress model's state."
    lo, hi, v = s.get("min", 0) or 0, s.get("max", 1) or 1, s.get("value", 0) or 0
    frac = min(max((v - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 1.0
    n = int(frac * 10)
    return frac, "|" + "█" * n + " " * (10 - n) + "|"


def _slider_range(s: dict) -> str:
    fmt = s.get("readout_format")
    return f"{_fmt(s.get('min'), fmt)} … {_fmt(s.get('max'), fmt)}, step {_fmt(s.get('step'), fmt)}"


KINDS = {"HBoxModel": "hbox", "BoxModel": "hbox", "GridBoxModel": "hbox", "VBoxModel": "vbox", "HTMLModel": "label",
         "LabelModel": "label", "HTMLMathModel": "label", "FloatProgressModel": "progress",
         "IntProgressModel": "progress", "OutputModel": "output"}


def _kind(name: str) -> str:
    "What a widget model is drawn as: one of KINDS' values, 'slider', or 'other'."
    return KINDS.get(name) or ("slider" if name.endswith("SliderModel") else "other")


def _slider_html(s: dict) -> str:
    fmt, label = s.get("readout_format"), html.escape(s.get("description", ""))
    return (f"<span class='gv-slider'><label>{label}</label> <input type='range' disabled style='width:24em;max-width:100%' "
            f"min='{s.get('min')}' max='{s.get('max')}' step='{s.get('step')}' value='{s.get('value')}' aria-label='{label}'> "
            f"<output>{html.escape(_fmt(s.get('value'), fmt))}</output> "
            f"<small>({html.escape(_slider_range(s))}; move it in a running notebook)</small></span>")


TEXT = {"hbox": lambda s, st: "".join(render_text(c, st) for c in _children(s)),
        "vbox": lambda s, st: "\n".join(render_text(c, st) for c in _children(s)),
        "label": lambda s, st: _plain(s.get("value", "")),
        "progress": lambda s, st: _progress(s)[1],
        "slider": lambda s, st: (f"{s['description']}: " if s.get("description") else "")
                                + f"{_fmt(s.get('value'), s.get('readout_format'))}  (slider {_slider_range(s)})",
        "output": lambda s, st: _output_text(s.get("outputs", []))}
HTML = {"hbox": lambda s, st: "<div class='gv-widget gv-hbox'>" + "".join(render_html(c, st) for c in _children(s)) + "</div>",
        "vbox": lambda s, st: "<div class='gv-widget gv-vbox'>" + "".join(render_html(c, st) for c in _children(s)) + "</div>",
        "label": lambda s, st: f"<span class='gv-label'>{html.escape(_plain(s.get('value', '')))}</span>",
        "progress": lambda s, st: (f"<progress class='gv-progress gv-{s.get('bar_style') or 'info'}' value='{_progress(s)[0]:.4f}' "
                                   f"max='1'>{_progress(s)[0]:.0%}</progress>"),
        "slider": lambda s, st: _slider_html(s),
        "output": lambda s, st: f"<div class='gv-output'>{_output_html(s.get('outputs', []))}</div>"}


def render_text(model_id: str, state: dict) -> str:
    "Plain-text picture of widget `model_id` in its stored state."
    m = state.get(model_id)
    if m is None: return f"(widget {model_id[:8]}: no stored state)"
    name, s = m.get("model_name", ""), m.get("state", {})
    draw = TEXT.get(_kind(name))
    return draw(s, state) if draw else f"{name.removesuffix('Model')}({s.get('description') or s.get('value', '')})"


def render_html(model_id: str, state: dict) -> str:
    "Static HTML picture of widget `model_id` in its stored state (no script: it survives sanitizers)."
    m = state.get(model_id)
    if m is None: return f"<pre>(widget {model_id[:8]}: no stored state)</pre>"
    draw = HTML.get(_kind(m.get("model_name", "")))
    return draw(m.get("state", {}), state) if draw else f"<code>{html.escape(render_text(model_id, state))}</code>"


def add_fallbacks(nb) -> int:
    """Give every widget output of `nb` (a dict-like notebook) `text/plain` and `text/html` drawn from the stored
    widget state, keeping the widget reference for live viewers. Returns how many outputs were changed."""
    state, n = widget_state(nb), 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            ref = out.get("data", {}).get(VIEW)
            if not ref or ref.get("model_id") not in state: continue
            out["data"]["text/plain"] = render_text(ref["model_id"], state)
            out["data"]["text/html"] = f"<div class='gv-widget-static'>{render_html(ref['model_id'], state)}</div>"
            n += 1
    return n
