# The two commands of the README: `make demo` runs the main job on the bundled example,
# `make test` runs the tests. Both create the environment first (pinned by constraints.txt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin

.PHONY: demo test bench reliability serve clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,topology]"
	touch $@

demo: $(VENV)/.installed
	PATH="$(BIN):$$PATH" bash examples/demo.sh

test: $(VENV)/.installed
	bash scripts/test-deps.sh
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q

bench: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run.py

reliability: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python scripts/reliability.py

clean:
	rm -rf $(VENV)

serve: $(VENV)/.installed
	PATH="$(BIN):$$PATH" bash scripts/serve.sh
