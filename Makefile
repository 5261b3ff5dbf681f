# mmdistillmot: `make demo` runs the main job, `make test` runs the suite. Both install first.
# Everything goes into .venv with uv; a second run on the same machine rebuilds nothing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# uv from PATH, else a private copy in .tools/ (plain pip here would pick a CPU torch wheel).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTHON_VERSION ?= 3.11
REQS := requirements/build.txt requirements/runtime.txt requirements/tests.txt requirements/optional.txt setup.py
STAMP := $(VENV)/.mmdistillmot-installed
PYTEST_ARGS ?=

.PHONY: install test lint format demo clean-venv

install: $(STAMP)

.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/python -m pip install --quiet uv

# mmcv must see torch at build time, so it goes in after the build requirements, without build
# isolation. uv caches the built wheel: a reinstall on the same machine takes seconds.
$(STAMP): $(REQS) | $(UV)
	@test -x $(PY) || $(UV) venv --python $(PYTHON_VERSION) $(VENV)
	$(UV) pip install --python $(PY) -r requirements/build.txt
	@$(PY) -c "import mmcv.ops" 2>/dev/null || { \
	  echo ">> building mmcv 2.1.0 with its C++ ops (12-18 min on 2 cores, once per machine)"; \
	  MMCV_WITH_OPS=1 MAX_JOBS=$${MAX_JOBS:-2} $(UV) pip install --python $(PY) \
	    --no-build-isolation mmcv==2.1.0; }
	$(UV) pip install --python $(PY) -r requirements/build.txt -r requirements/runtime.txt \
	  -r requirements/tests.txt
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
