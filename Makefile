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
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/agentnas evaluate examples/mnist1d_logistic.py examples/mnist1d_mlp.py \
		examples/mnist1d_cnn.py examples/mnist1d_gru.py --task mnist1d

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check agentnas sandbox tests benchmarks examples
	$(BIN)/mypy

bench: install
	$(BIN)/agentnas bench sandbox

clean:
	rm -rf $(VENV) agentnas-out .pytest_cache .mypy_cache .ruff_cache
