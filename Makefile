# Two commands on a fresh machine: `make run` (set up + the main job, offline) and `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STEPS ?= 40
export LANGGRAPH_CLI_NO_ANALYTICS := 1
export LANGGRAPH_NO_VERSION_CHECK := 1
export LANGGRAPH_STRICT_MSGPACK := true
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export RAY_AUTH_MODE := disabled
# the tasks' real data sets (tiny-shakespeare, Davis, math): a sibling `shared/data` folder unless one is named
export ASI_EVOLVE_DATA_DIR ?= $(wildcard $(abspath ../shared/data))

.PHONY: install sandbox run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0  # first: the CPU wheel; an unpinned torch pulls a CUDA build
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) sandbox

# The candidate jail uses bubblewrap; installed where we may (root with apt), else we say what to install.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || true; \
	  fi; \
	  command -v bwrap >/dev/null 2>&1 || echo "note: bubblewrap is not installed; candidates will run without" \
	    "namespaces. Install it (e.g. 'sudo apt install bubblewrap') for the isolated sandbox." >&2; }

run: $(STAMP) sandbox
	$(BIN)/asi-evolve run circle_packing --steps $(STEPS) --seed 0

test: $(STAMP) sandbox
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) runs .pytest_cache
