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

.PHONY: install sandbox browser run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0  # first: the CPU wheel; an unpinned torch pulls a CUDA build
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) sandbox

# apt_install(command, package, what it is for): install a missing system package where we may (root with
# apt), else say what to install.
define apt_install
	@command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq $(2) >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(2) >/dev/null 2>&1; } || true; \
	  fi; \
	  command -v $(1) >/dev/null 2>&1 || echo "note: $(2) is not installed; $(3). Install it" \
	    "(e.g. 'sudo apt install $(2)')." >&2; }
endef

# The candidate jail uses bubblewrap.
sandbox:
	$(call apt_install,bwrap,bubblewrap,candidates will run without namespaces)

# The report's browser tests drive the system's Chromium (Playwright never downloads one).
browser:
	$(call apt_install,chromium,chromium,the report's browser tests will be skipped)

run: $(STAMP) sandbox
	$(BIN)/asi-evolve run circle_packing --steps $(STEPS) --seed 0

test: $(STAMP) sandbox browser
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) runs .pytest_cache
