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

# The demo: simulate a small cohort, run the participant and group levels with the shipped
# model, say where the reports are. DEMO_SUBJECTS=2 is the scaled-down version CI runs.
DEMO_DIR      ?= demo
DEMO_SUBJECTS ?= 6
DEMO_SEED     ?= 2026

demo: setup
	rm -rf $(DEMO_DIR)
	$(BIN)/bids_lrp-simulate $(DEMO_DIR)/bids --n-subjects $(DEMO_SUBJECTS) --seed $(DEMO_SEED)
	$(BIN)/bids_lrp $(DEMO_DIR)/bids $(DEMO_DIR)/derivatives participant -w $(DEMO_DIR)/work \
		--nprocs 2 --omp-nthreads 1
	$(BIN)/bids_lrp $(DEMO_DIR)/bids $(DEMO_DIR)/derivatives group
	@echo
	@echo "Reports: $(DEMO_DIR)/derivatives/sub-*.html and $(DEMO_DIR)/derivatives/group/group_report.html"

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache *.egg-info
