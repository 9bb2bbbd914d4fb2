# Every entry point developers and CI need. Each target does its own set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SRC := beacon tests bench tools

.PHONY: install lint fmt type test check demo diagrams bench model mutate clean

install: $(STAMP)

# Re-run only when the packaging changes; `dot` comes from Debian's graphviz when missing.
$(STAMP): pyproject.toml
	@command -v dot >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -q graphviz >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q graphviz >/dev/null)); \
	  else echo "note: 'dot' (graphviz) is missing; SVG rendering will fail" >&2; fi; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

lint: install
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/ruff check $(SRC)

fmt: install
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

type: install
	$(BIN)/mypy

# -v: one line per test (name and outcome) instead of dots; the ten slowest at the end.
test: install
	$(BIN)/pytest -v -m "not slow" -n auto --dist loadgroup --durations=10 tests README.md

check: lint type test

model: install
	HYPOTHESIS_PROFILE=model $(BIN)/pytest -v -m slow --durations=10 tests

# Mutation testing of the client's decision modules ([tool.mutmut] in pyproject.toml); slow.
# One module: make mutate MUTATE='beacon.client._setup*' (mutmut's mutant-name glob).
mutate: install
	$(BIN)/mutmut run $(MUTATE)
	$(BIN)/mutmut results

diagrams: install
	$(BIN)/beacon chart render statecharts/*.yaml -o diagrams/

demo: install
	$(BIN)/beacon demo --out demo-output

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-output mutants .mutmut-cache
