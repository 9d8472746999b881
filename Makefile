# gpuvision-nb: two commands do all set-up on a fresh machine (see README.md)
#   make demo   create/reuse .venv, install, run the main job
#   make test   create/reuse .venv, install, run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CI and the dev boxes install this torch (a CUDA build that also runs on CPU); the GPU box has torch 2.11.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.gpuvision-installed

.PHONY: demo test install export-check docs docs-check unit nbval nbdev-test html browser-test clean-venv gpu-check mutate

install: $(STAMP)

$(STAMP): setup.py settings.ini
	@test -x $(BIN)/python || $(PYTHON) tools/need_space.py $(VENV) 7
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_PINS)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gpuvision demo

# The whole suite (what CI runs): exports in sync, README/docs in sync, unit tests (the site build included), every
# notebook once under nbval (`make nbdev-test` runs them a second time, by hand).
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash tools/test.sh

export-check unit nbval nbdev-test docs-check: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash tools/test.sh $@

# Regenerate README.md (from nbs/index.ipynb) and docs/ (every chapter with its outputs, as Markdown).
# Quarto is unavailable here, so nbdev_readme/nbdev_docs can't be used.
docs: $(STAMP)
	$(BIN)/python tools/render.py all

# The course website in _site/ (not committed; open _site/index.html, no server needed): Sphinx + MyST-NB with the
# book theme, from the notebooks' stored outputs (nothing runs). Built offline, and checked: titles, internal links
# and anchors, nothing loaded from outside _site/ (tools/website.py; tests/test_site.py does the same in `make test`).
html: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/website.py build _site
	$(BIN)/python tools/website.py check _site

# Headless Chromium + selenium (Debian's chromium and chromium-driver): the site from file:// (index → chapter,
# search, typeset maths, no request leaves the machine) and JupyterLab 4's view of the stored widgets.
# Screenshots in _build/screenshots/ (or $$GPUVISION_SCREENSHOTS).
browser-test: html
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser_site.py

# Every chapter on the GPU under a 9-minute budget, a pass/fail + seconds table, records with provenance and tarballs
# in $$OUT (tools/gpu_check.py). No venv needed (a GPU box has no network): the venv's python if there is one, else
# python3, with nbclient from .whl/ if missing. Rehearse on a CPU: make gpu-check GPU_CHECK_ALLOW_CPU=1 NOTEBOOKS="01 02"
GPU_CHECK_PY ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
GPU_CHECK_BUDGET ?= 540
GPU_CHECK_TIMEOUT ?= 300
gpu-check:
	$(GPU_CHECK_PY) tools/gpu_check.py --budget $(GPU_CHECK_BUDGET) --timeout $(GPU_CHECK_TIMEOUT) $(if $(GPU_CHECK_ALLOW_CPU),--allow-cpu) $(NOTEBOOKS)

# Mutation testing (mutmut 3.x, a dev requirement) of one module with its own tests: a sample of SAMPLE mutants
# (0 = all), drawn with SEED; prints the killed share and every survivor. SAMPLE=60 takes about 5 minutes on 2 cores.
MODULE ?= checkpoint
SAMPLE ?= 60
SEED ?= 0
mutate: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python tools/mutate.py $(MODULE) --sample $(SAMPLE) --seed $(SEED)

clean-venv:
	rm -rf $(VENV)
