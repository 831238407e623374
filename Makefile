# `make run` / `make test` on a fresh machine: create .venv from uv.lock, then run.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
PYTHON_VERSION := $(shell head -n1 .python-version)
# pyenv's interpreter when present; otherwise any python3.10 on PATH.
BASE_PYTHON := $(or $(wildcard $(shell pyenv root 2>/dev/null)/versions/$(PYTHON_VERSION)/bin/python3.10),python3.10)
# uv lives at one absolute path inside the repo, installed by BASE_PYTHON's pip: never a PATH lookup
# (pyenv's shims answer differently from a directory without .python-version).
UV_DIR := $(CURDIR)/.tools/uv-$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
ARGS ?=
# pytest-xdist workers for `make test` / `make test-unit` (WORKERS=0: one process). Each test's
# xdist group (tests/conftest.py) runs whole on one worker, groups in collection order.
WORKERS ?= 2
XDIST = -n $(WORKERS) --dist loadgroup --no-loadscope-reorder

.PHONY: setup run test test-unit lint clean setup-kubeflow setup-airflow test-orchestrators kubeflow-spec

setup: $(VENV)/.installed

$(UV):
	"$(BASE_PYTHON)" -m pip install --quiet --disable-pip-version-check --target "$(UV_DIR)" "uv==$(UV_VERSION)"

# --compile-bytecode: the .pyc files are written once here. Without them every process compiles
# TensorFlow, TFX and Beam from source on import, where PYTHONDONTWRITEBYTECODE is set (CI
# sandboxes, containers): `import tensorflow` took 24 s of CPU instead of 10. The project's own
# modules too (an edited one is compiled in memory again, as Python checks the source's mtime).
$(VENV)/.installed: uv.lock pyproject.toml .python-version | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --compile-bytecode --python "$(BASE_PYTHON)"
	$(PY) -m compileall -q components pipeline serving monitoring
	@touch $@

# One environment per orchestrator (.venv-kubeflow, .venv-airflow): their dependency groups pin
# shared packages differently, so uv resolves them apart (see [tool.uv] conflicts).
setup-kubeflow: .venv-kubeflow/.installed
setup-airflow: .venv-airflow/.installed

.venv-kubeflow/.installed .venv-airflow/.installed: .venv-%/.installed: uv.lock pyproject.toml .python-version | $(UV)
	UV_PROJECT_ENVIRONMENT=.venv-$* UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --compile-bytecode --python "$(BASE_PYTHON)" --group $*
	@touch $@

run: setup
	$(PY) runner.py --local $(ARGS)

test: setup
	$(PY) -m pytest $(XDIST) $(ARGS)

test-unit: setup
	$(PY) -m pytest -m "not e2e" $(XDIST) $(ARGS)

# The Kubeflow spec and the Airflow DAG, each in its own environment (e2e tests included).
test-orchestrators: setup-kubeflow setup-airflow
	.venv-kubeflow/bin/python -m pytest tests/unit/pipeline/test_kubeflow.py tests/unit/pipeline/test_kubeflow_submit.py \
		tests/unit/pipeline/test_kubeflow_rehearsal.py $(ARGS)
	.venv-airflow/bin/python -m pytest tests/unit/pipeline/test_airflow.py $(ARGS)

kubeflow-spec: setup-kubeflow
	.venv-kubeflow/bin/python runner.py --kubeflow $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf work build .pytest_cache
