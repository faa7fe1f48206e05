# The two set-up commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs unit integration binaries clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,test,docs]'
	touch $(STAMP)

## Run the demo: the local control plane, the broker and the dev users, until Ctrl-C.
demo: $(STAMP)
	$(BIN)/kubejit demo --dir /tmp/kubejit-demo

## Lint, type-check, check the layering, build the docs site, then run the whole test suite against a real control plane.
test: lint docs binaries
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Build the documentation site into build/site/ (mkdocs.yml); --strict turns every warning (a broken link) into a failure.
docs: $(STAMP)
	$(BIN)/ruff check docs/gen
	$(BIN)/ruff format --check docs/gen
	$(BIN)/mypy docs/gen/policy_schema.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

## Build (or reuse from ~/.cache/kubejit) etcd, kube-apiserver and kwok; fetch (or reuse) axe-core for the browser tests
## and Debian's promtool for the alert rules test.
binaries: $(STAMP)
	$(BIN)/kubejit devcluster binaries
	$(BIN)/python -m tests.axe
	$(BIN)/python -m tests.promtool

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build/site
