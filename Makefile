# The two commands a user needs: `make demo` and `make test`. Both create .venv when it
# is missing (torch pinned to the CPU build first, then the project with its test extras)
# and are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.agentnas-installed
TORCH := torch==2.13.0

.PHONY: install demo test test-slow lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

# A short discovery on MNIST-1D with the offline proposer (no API key): a few minutes on 2
# cores, then the leaderboard beside the task's published baselines. Running it again resumes
# the same run directory (and, with its budget spent, just prints the leaderboard).
DEMO_EVALS ?= 12
demo: install
	$(BIN)/agentnas run --task mnist1d --budget-evals $(DEMO_EVALS) --max-macs 1000000 --run-dir agentnas-runs/demo

# Two test processes: most tests wait on sandboxes, servers and subprocesses, so two share two
# cores well (25 -> 14 min under load here). A file's tests stay in one process (--dist
# loadfile): its module fixtures (a trained run, a Ray cluster) are built once. TEST_WORKERS=0
# runs them in this process, one at a time.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check agentnas sandbox tests benchmarks examples
	$(BIN)/mypy

bench: install
	$(BIN)/agentnas bench sandbox

clean:
	rm -rf $(VENV) agentnas-out agentnas-runs .pytest_cache .mypy_cache .ruff_cache
