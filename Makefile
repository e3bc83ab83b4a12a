# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DASHBOARD ?= 1
PORT ?= 8501

.PHONY: demo test lint format bench mutate clean native

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The hot modules compiled with mypyc (simulator/hw/native.py); a no-op while they match
# their sources, pure Python (the same results) where they cannot be compiled.
native: $(STAMP)
	$(BIN)/python -m simulator.hw.compile --if-stale

demo: $(STAMP) native
	$(BIN)/kernbench demo $(if $(filter 0,$(DASHBOARD)),--no-dashboard,--port $(PORT))

test: $(STAMP) native
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	KERNBENCH_NATIVE=require $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Run the asv suite over recent commits and publish the html (.asv/html).
BENCH_RANGE ?= NEW
BENCH_STEPS ?= 10
bench: $(STAMP)
	test -f $(HOME)/.asv-machine.json || $(BIN)/asv machine --yes
	-$(BIN)/asv run --skip-existing-commits --steps $(BENCH_STEPS) $(BENCH_RANGE)
	$(BIN)/asv publish
	@echo "asv html in .asv/html (serve it with: $(BIN)/asv preview)"

# Mutation testing of the core (slow, so not part of `make test`): mutmut mutates the
# files listed under [tool.mutmut] in pyproject.toml one change at a time and runs the
# fast tests that cover each change. Prints the surviving mutants, then the counts.
# MUTATE_ONLY narrows it, e.g. MUTATE_ONLY='traces.verdicts*'; `mutmut show NAME` shows one.
MUTATE_JOBS ?= 2
MUTATE_ONLY ?=
mutate: $(STAMP)
	rm -rf mutants
	@echo "mutmut: progress in .mutmut.log"
	-$(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTATE_ONLY) > .mutmut.log 2>&1
	$(BIN)/mutmut results
	$(BIN)/mutmut export-cicd-stats > /dev/null
	@cat mutants/mutmut-cicd-stats.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis mutants .mutmut.log simulator/_native
