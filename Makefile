# dynconv — the commands a newcomer needs. `make install` builds .venv; every
# other target depends on it, so `make demo` or `make test` work first on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_FLAGS ?=
# Test processes (pytest-xdist): one per core of this 2-core machine; TEST_WORKERS=0 runs the suite
# in this process (e.g. beside a training run, or to use pdb).
TEST_WORKERS ?= 2
# The PyTorch peer for `make test-peer` (the CPU build; torch is never a runtime dependency).
PEER_TORCH ?= torch==2.13.0

.PHONY: install test test-all test-peer bench bench-all demo lab notebooks clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cluster]'
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) $(PYTEST_FLAGS)

test-all: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_FLAGS)

# The PyTorch cross-checks (tests marked `peer`): installs the `peer` extra, then runs them.
test-peer: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,peer]' '$(PEER_TORCH)'
	$(PY) -c "import torch; print('peer: torch', torch.__version__)"
	$(PY) -m pytest -m peer $(PYTEST_FLAGS)

# Benchmarks measure, never assert. Targets are judged on a second run with the BLAS variables
# unset (`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...`, see benchmarks/README.md).
bench: $(VENV)/.installed
	$(PY) benchmarks/bench_kernels.py

bench-all: bench
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_profile.py
	$(PY) benchmarks/bench_upscale.py

demo: $(VENV)/.installed
	$(PY) -m dynconv demo

# JupyterLab on notebooks/ (the `notebooks` extra: jupyterlab + jupytext, so the .py pairs open as
# notebooks). No browser is opened; JupyterLab prints the URL to open. LAB_FLAGS adds options.
# Jupyter refuses to run as root unless told (containers and VMs often log in as root).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_FLAGS ?=
lab: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[notebooks]'
	$(PY) -m jupyter lab --no-browser --ServerApp.root_dir=notebooks $(LAB_ROOT) $(LAB_FLAGS)

notebooks: $(VENV)/.installed
	$(PY) notebooks/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
