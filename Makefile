# Two entry points for a fresh machine (see README.md):
#   make demo   set everything up and run the main job on the built-in demo
#   make test   set everything up and run lint + the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build.
TORCH_SPEC ?= torch==2.13.0

export NIPYPE_NO_ET := 1
export MPLCONFIGDIR ?= $(CURDIR)/.cache/matplotlib

.PHONY: setup test lint demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null

setup: $(BIN)/python
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[test]"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/bids_lrp --version
	@echo "The demo (simulate a small cohort, then run the participant and group levels) lands with"
	@echo "the BIDS App issues; it will run:"
	@echo "  bids_lrp-simulate demo/bids --n-subjects 4"
	@echo "  bids_lrp demo/bids demo/derivatives participant"
	@echo "  bids_lrp demo/bids demo/derivatives group"

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache *.egg-info
