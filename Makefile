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

.PHONY: setup test lint docs demo model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null

setup: $(BIN)/python
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[test,docs]"
	$(BIN)/pip install --no-deps "zennit>=0.5"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The documentation site: warnings are errors (a broken reference, a page outside the tree).
docs: setup
	$(BIN)/sphinx-build -W --keep-going -q -b html docs build/docs

test: lint docs
	$(BIN)/python -m pytest

# The demo: simulate a small cohort, run the participant and group levels with the shipped
# model, say where the reports are. DEMO_SUBJECTS=2 is the scaled-down version CI runs.
DEMO_DIR      ?= demo
DEMO_SUBJECTS ?= 6
DEMO_SEED     ?= 2026

demo: setup
	rm -rf $(DEMO_DIR)
	$(BIN)/bids_lrp-simulate $(DEMO_DIR)/bids --n-subjects $(DEMO_SUBJECTS) --seed $(DEMO_SEED) \
		--severity 0.3
	$(BIN)/bids_lrp $(DEMO_DIR)/bids $(DEMO_DIR)/derivatives participant -w $(DEMO_DIR)/work \
		--nprocs 2 --omp-nthreads 1
	$(BIN)/bids_lrp $(DEMO_DIR)/bids $(DEMO_DIR)/derivatives group
	@echo
	@echo "Reports: $(DEMO_DIR)/derivatives/sub-*.html and $(DEMO_DIR)/derivatives/group/group_report.html"

# The shipped demo model (bids_lrp/data/models/): exactly these commands made it. Synthetic data
# only; its card says it must not be used on patients.
MODEL_DIR   ?= build/demo-model
MODEL_OUT   ?= bids_lrp/data/models/boehle2019.safetensors
MODEL_SIM   ?= --n-subjects 480 --seed 200 --severity 0.3
MODEL_TRAIN ?= --grid-mm 4 --channels 8 16 32 32 --pools 2 2 2 2 --hidden 32 --lr 1e-3 \
	--weight-decay 3e-2 --warmup 15 --epochs 150 --patience 30 --min-epochs 40 --seed 2 --threads 1

model: setup
	rm -rf $(MODEL_DIR)
	$(BIN)/bids_lrp-simulate $(MODEL_DIR)/bids $(MODEL_SIM) --quiet
	$(BIN)/bids_lrp-train $(MODEL_DIR)/bids/derivatives/simulation --out $(MODEL_OUT) --overwrite \
		$(MODEL_TRAIN) --name boehle2019-demo-sim4mm \
		--training-data "SYNTHETIC: 480 simulated participants (bids_lrp-simulate $(MODEL_SIM)); \
no real person's data" \
		--intended-use "Demonstration and software testing only. Trained on synthetic images: \
NOT FOR CLINICAL USE, must not be used on patients or to inform any diagnosis. Reproduce: make model"

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache *.egg-info
