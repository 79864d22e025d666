# Two commands do all set-up on a fresh machine: `make bench` and `make test`.
# Each installs the project into .venv first when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench test test-long verify lint mutmut clean benchmark benchmark-compare baseline gate gate-full gate-stored gpu-check docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,jax,torch,slurm,ray,mlflow]'
	touch $(STAMP)

# One name for the sweep and its report; `make bench SWEEP_ID=mine` re-uses (and resumes) a sweep.
SWEEP_ID := quick-$(shell date +%Y-%m-%d_%H-%M-%S)

## the quick preset (every style x mlp, cnn, residual, 10 blocks each), a summary table, then the report
bench: $(STAMP)
	$(BIN)/bench run sweep=quick sweep_id=$(SWEEP_ID)
	$(BIN)/bench report results/$(SWEEP_ID)

## the test suite without the `long` tests; benchmarks run once each, untimed; prints the 15 slowest
test: $(STAMP)
	$(BIN)/python -m pytest -m "not long" --benchmark-disable --durations=15

## the `long` tests: launcher sweeps (submitit, Ray), a real MLflow server, --against in a worktree
test-long: $(STAMP)
	$(BIN)/python -m pytest -m long --benchmark-disable --durations=10

## time the pytest-benchmark suites and save the run under .benchmarks/
benchmark: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-autosave --benchmark-min-rounds=20

## compare with the last saved run; fail when a median is more than 15% slower
benchmark-compare: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-compare --benchmark-compare-fail=median:15%

## prove the styles build identical models
verify: $(STAMP)
	$(BIN)/bench verify

## re-measure the committed baseline the compare gate checks against (results/baseline/), on a quiet machine
baseline: $(STAMP)
	rm -rf results/baseline
	$(BIN)/bench run sweep=gate sweep_id=baseline

GATE_REF ?= baseline
GATE_REPEATS ?= auto
GATE_AUTO := --auto-start 10 --auto-step 5 --auto-cap 15
GATE_THRESHOLD ?= 10%
GATE_METRICS := --metric step_ms_median --metric time_to_first_step_ms --metric peak_rss_mb
## the gate .ci/run runs: the code at GATE_REF (default: the commit recorded in results/baseline/)
## and this checkout, sweep=gate interleaved repeat by repeat on this machine, decided on the
## paired ratios (bench compare --against), looking after 10 and 15 pairs with alpha spent
## over the looks; exit 1 on a regression, a missing cell or errored trials, 3 when undecided
## (make itself exits 2 whenever bench fails: reports/gate-exit keeps bench's own exit code)
gate: $(STAMP)
	mkdir -p reports
	code=0; $(BIN)/bench compare --against $(GATE_REF) --sweep gate --repeats $(GATE_REPEATS) $(GATE_AUTO) \
		$(GATE_METRICS) --threshold $(GATE_THRESHOLD) --markdown reports/gate-compare.md || code=$$?; \
		echo $$code > reports/gate-exit; exit $$code

GATE_FULL_REF ?= HEAD~1
## the full gate: every style over TensorFlow mlp/cnn/residual, mlp under XLA, on jax and on torch
## (sweep=gate_full); REF must have conf/cell/ (a commit from 2026-12-04 on); about 8 minutes a pair here
gate-full: $(STAMP)
	mkdir -p reports
	$(BIN)/bench compare --against $(GATE_FULL_REF) --sweep gate_full --repeats $(GATE_REPEATS) $(GATE_AUTO) \
		$(GATE_METRICS) --threshold $(GATE_THRESHOLD) --markdown reports/gate-full-compare.md

GATE_ID := gate-$(shell date +%Y-%m-%d_%H-%M-%S)
## the stored-numbers gate: sweep=gate now against results/baseline/, machine divided out by the anchor
gate-stored: $(STAMP)
	$(BIN)/bench run sweep=gate sweep_id=$(GATE_ID)
	mkdir -p reports
	$(BIN)/bench compare results/baseline results/$(GATE_ID) --anchored $(GATE_METRICS) \
		--threshold $(GATE_THRESHOLD) --markdown reports/$(GATE_ID)-compare.md

GPU_PY ?= $(BIN)/python
GPU_ID := gpu-check-$(shell date +%Y-%m-%d_%H-%M-%S)
GPU_BACKENDS = $(shell $(GPU_PY) -c "from bench import backends; print(','.join(b for b in backends.BACKENDS if backends.installed(b)))")
## the GPU check: one block of every style x mlp, cnn, residual on the GPU for every installed
## backend, with the default phases (epochs, block clock, latency, save/load), then the `gpu`
## tests; exits non-zero on any error row, and on a skipped one (no GPU, or a backend missing);
## on a GPU machine without .venv (no network, no TensorFlow): make gpu-check GPU_PY=python3
## with PYTHONPATH holding the wheels (docs/gpu.md)
gpu-check:
	$(GPU_PY) -m bench.cli run -m backend=$(GPU_BACKENDS) hardware=gpu data=embedded arch=mlp,cnn,residual \
		'block.styles=[sequential,functional,subclass,functions,raw]' sweep_id=$(GPU_ID)
	$(GPU_PY) -m bench.cli status --require-ran results/$(GPU_ID)
	$(GPU_PY) -m bench.cli report results/$(GPU_ID)
	$(GPU_PY) -m pytest -m gpu -p no:randomly -rs tests/test_gpu.py

## the manual (docs/, MkDocs Material) built into build/site/ with --strict: a broken link,
## a missing page or heading fails it
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## mutation testing of the decision rule (bench/decide/: stats.py, __init__.py, compare.py; [tool.mutmut] in
## pyproject.toml): about 30-60 minutes on 2 cores; the score is in docs/decisions.md
mutmut: $(STAMP)
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut export-cicd-stats
	cat mutants/mutmut-cicd-stats.json

## ruff: lint and format check
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## remove the venv, Hydra's outputs, caches and mutants
clean:
	rm -rf $(VENV) outputs .pytest_cache mutants
	git worktree prune
