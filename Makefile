# Threadwise: `make run` starts it, `make test` proves it. Both install what they need first.
# Only Python 3.11+ and make are required; uv (pinned) is bootstrapped into .uv/ and installs the locked
# dependencies (uv.lock) into .venv/.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1
# Installed modules are compiled to bytecode once, here: without it each command compiles them again where
# PYTHONDONTWRITEBYTECODE is set (3 of the 5.6 s that `threadwise ask` took on such a machine).
export UV_COMPILE_BYTECODE := 1

.PHONY: install run test lint fmt check-python clean

install: $(VENV)/.installed

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Threadwise needs Python 3.11 or newer; found " + sys.version.split()[0])'

$(UV): | check-python
	@echo "Bootstrapping uv $(UV_VERSION) into .uv/"
	@$(PYTHON) -m venv .uv || { echo "error: '$(PYTHON) -m venv' failed; install your Python's venv module (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	@.uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@$(BIN)/python -m compileall -q -j 0 agent bot core evals knowledge
	@touch $@

run: install
	$(BIN)/threadwise db upgrade
	@# The user guide is the sample knowledge base: ask Threadwise about itself. Unchanged files cost nothing.
	$(BIN)/threadwise ingest docs --collection docs
	$(BIN)/threadwise serve --host $(HOST) --port $(PORT)

test: install
	@# --durations=25: the slowest tests are listed at the end, to see where the time goes.
	$(BIN)/pytest --durations=25

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	@# The Kubernetes manifests against checkov's policies: each check they waive says why, in the manifest.
	@# checkov runs in a tool environment of its own (its dependencies would pin the project's).
	$(UV) tool run --from checkov==3.3.30 checkov --directory deploy/kubernetes --framework kubernetes \
		--compact --quiet --skip-download
	@# alembic check compares the models with a database migrated to head: a scratch embedded one.
	DATABASE_URL= APP_DATA_DIR=.data/lint $(BIN)/threadwise db upgrade
	DATABASE_URL= APP_DATA_DIR=.data/lint $(BIN)/alembic check

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .uv $(VENV) .mypy_cache .ruff_cache .pytest_cache
