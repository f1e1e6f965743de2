# tunegym — set-up, main job and tests. Everything goes through .venv.
# The pinned CPU build of torch is installed *before* the package so that resolving the
# package's `torch>=2.2` is already satisfied and pip never pulls a multi-GB CUDA wheel.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev,openml,metafeatures,service,lcbench,peers,ray
# The suite's worker processes (pytest-xdist): one per core of the 2-core CI machine.
TEST_WORKERS ?= 2
# Benchmark peers whose metadata over-asks (pyproject.toml, extra "peers"): installed without deps.
PEERS_NO_DEPS ?= syne-tune==0.16.0 DEHB==0.1.2

.PHONY: setup run test test-all lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	$(PIP) install --quiet --no-deps $(PEERS_NO_DEPS)
	touch $(STAMP)

setup: $(STAMP)  ## create/reuse .venv and install torch (CPU) + tunegym

run: setup  ## the main job: tune the default dataset (LCBench's space), then with the pretrained agent (lr-bs)
	$(VENV)/bin/tunegym tune --report runs/make_run/report.json --plot runs/make_run/tuning.png
	$(VENV)/bin/tunegym tune --space lr-bs --report runs/make_run/agent_report.json --plot runs/make_run/agent_tuning.png

test: setup  ## fast test suite (slow tests excluded)
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-all: setup  ## every test, slow ones included
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not online"

lint: setup
	$(VENV)/bin/ruff check tunegym tests experiments
	$(VENV)/bin/ruff format --check tunegym tests experiments

typecheck: setup
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
