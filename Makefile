# gpuvision-nb: two commands do all set-up on a fresh machine (see README.md)
#   make demo   create/reuse .venv, install, run the main job
#   make test   create/reuse .venv, install, run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CI and the dev boxes install this torch (a CUDA build that also runs on CPU); the GPU box has torch 2.11.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.gpuvision-installed

.PHONY: demo test install export-check docs docs-check unit nbval nbdev-test html clean-venv

install: $(STAMP)

$(STAMP): setup.py settings.ini
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_PINS)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gpuvision demo

# The whole suite (what CI runs): exports in sync, README/docs in sync, unit tests, every notebook under nbval,
# and nbdev_test.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash tools/test.sh

export-check unit nbval nbdev-test docs-check: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash tools/test.sh $@

# Regenerate README.md (from nbs/index.ipynb) and docs/ (every chapter with its outputs, as Markdown).
# Quarto is unavailable here, so nbdev_readme/nbdev_docs can't be used.
docs: $(STAMP)
	$(BIN)/python tools/render.py all

# A static HTML rendering of the course in _site/ (not committed): open _site/index.html.
html: $(STAMP)
	$(BIN)/python tools/render.py html _site

clean-venv:
	rm -rf $(VENV)
