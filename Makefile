# mmdistillmot: `make demo` runs the main job, `make test` runs the suite. Both install first.
# Everything goes into .venv with uv; a second run on the same machine rebuilds nothing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# uv from PATH, else a private copy in .tools/ (plain pip here would pick a CPU torch wheel).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTHON_VERSION ?= 3.11
REQS := requirements/build.txt requirements/runtime.txt requirements/tests.txt \
  requirements/deploy.txt requirements/optional.txt setup.py
STAMP := $(VENV)/.mmdistillmot-installed
PYTEST_ARGS ?=
# OpenMP threads that spin while waiting make torch many times slower on a busy small machine
# (docs/troubleshooting.md: 2.5 s -> 0.06 s per ResNet-18 forward at load 12 on 2 cores).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install test lint format demo clean-venv

install: $(STAMP)

.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/python -m pip install --quiet uv

# mmcv must see torch at build time, so it is built after the build requirements, without build
# isolation. uv does not reuse such builds across venvs, so the built wheel is kept in
# MMCV_WHEELS (one folder per torch version: the ops are compiled against its ABI) and a fresh
# clone on the same machine installs it in seconds instead of rebuilding.
MMCV_WHEELS ?= $(HOME)/.cache/mmdistillmot/wheels
$(STAMP): $(REQS) | $(UV)
	@test -x $(PY) || $(UV) venv --python $(PYTHON_VERSION) $(VENV)
	$(UV) pip install --python $(PY) -r requirements/build.txt
	@$(PY) -c "import mmcv.ops" 2>/dev/null || { set -e; \
	  dir="$(MMCV_WHEELS)/torch-$$($(PY) -c 'import torch; print(torch.__version__)')"; \
	  if ! ls "$$dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then \
	    echo ">> building mmcv 2.1.0 with its C++ ops (12-18 min on 2 cores, once per machine)"; \
	    $(UV) pip install --python $(PY) pip; \
	    MMCV_WITH_OPS=1 MAX_JOBS=$${MAX_JOBS:-2} $(PY) -m pip wheel --no-build-isolation \
	      --no-deps mmcv==2.1.0 -w "$$dir.partial"; \
	    mkdir -p "$$dir" && mv "$$dir.partial"/mmcv-2.1.0-*.whl "$$dir"/ && rm -rf "$$dir.partial"; \
	  else echo ">> mmcv 2.1.0 wheel built earlier on this machine: $$dir"; fi; \
	  $(UV) pip install --python $(PY) "$$dir"/mmcv-2.1.0-*.whl; }
	$(UV) pip install --python $(PY) -r requirements/build.txt -r requirements/runtime.txt \
	  -r requirements/tests.txt -r requirements/deploy.txt
	$(UV) pip install --python $(PY) --no-deps -r requirements/optional.txt
	$(UV) pip install --python $(PY) --no-deps --no-build-isolation -e .
	$(PY) -c "import mmcv.ops, mmdet, mmdistillmot; print('mmdistillmot', mmdistillmot.__version__, 'ready')"
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	bash tools/demo/run_demo.sh

clean-venv:
	rm -rf $(VENV)
