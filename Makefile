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

# One name for the sweep and its report; `make bench SWEEP_ID=mine` re-uses (and resumes) a sweep.
SWEEP_ID := quick-$(shell date +%Y-%m-%d_%H-%M-%S)

## the quick preset (every style x mlp,cnn x XLA off/on x 2 repeats), a summary table, then the report
bench: $(STAMP)
	$(BIN)/bench run sweep=quick sweep_id=$(SWEEP_ID)
	$(BIN)/bench report results/$(SWEEP_ID)

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
