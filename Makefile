# The two commands of the README: `make demo` runs the main job on the bundled example,
# `make test` runs the tests. Both create the environment first (pinned by constraints.txt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin

.PHONY: demo test test-fast bench reliability serve clean

# The inner loop: the pure rooms (planning, parsers, schedules, git plumbing) and the unit tests,
# no Prefect server and no agent CLI (under 2 minutes). `make test` (and CI) runs everything.
FAST_TESTS := tests/test_layering.py tests/test_formats.py tests/test_corpus_formats.py \
	tests/test_validate.py tests/test_native_plan.py tests/test_spectacular_parser.py \
	tests/test_requirements.py tests/test_schedule.py tests/test_plan_fuzz.py \
	tests/test_agent_parsers.py tests/test_agents.py tests/test_gitops.py tests/test_handoff.py \
	tests/test_worktree_list.py tests/test_cli_help.py

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,topology]"
	touch $@

demo: $(VENV)/.installed
	PATH="$(BIN):$$PATH" bash examples/demo.sh

# The suite in TEST_WORKERS processes (pytest-xdist): most of it waits on subprocesses (agent
# CLIs and their own retries, Prefect servers), so more processes than cores keep 2 cores busy.
# Tests sharing a module's server are one xdist_group; each process has its own Prefect test
# server and temp dirs (tests/conftest.py).
TEST_WORKERS ?= 6

test: $(VENV)/.installed
	bash scripts/test-deps.sh
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadgroup

test-fast: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q --durations=15 $(FAST_TESTS)

bench: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run.py

reliability: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python scripts/reliability.py

clean:
	rm -rf $(VENV)

serve: $(VENV)/.installed
	PATH="$(BIN):$$PATH" bash scripts/serve.sh
