# Two commands do all set-up on a fresh machine: `make bench` and `make test`.
# Each installs the project into .venv first when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench test verify lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## one trial per style on mlp, then a table
bench: $(STAMP)
	$(BIN)/bench run -m style=sequential,functional,subclass,functions,raw arch=mlp

## the test suite (a few minutes on 2 cores)
test: $(STAMP)
	$(BIN)/python -m pytest

## prove the styles build identical models
verify: $(STAMP)
	$(BIN)/bench verify

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) outputs .pytest_cache
