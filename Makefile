# fleetven developer commands. `make test` is the one command that, from a
# fresh clone on a Debian machine, installs everything and runs the suite:
#   1. Debian packages the build and the tests need (apt-get, only if missing)
#   2. a virtual environment in .venv with the newest Python 3.11+ available
#   3. every package at the version pinned, with its hash, in requirements/dev.lock
#      (the build, test and demo dependencies), then fleetven itself in editable
#      mode, which compiles fleetven/_fast/*.pyx in place
#   4. pytest (extra arguments in PYTEST_ARGS, e.g. PYTEST_ARGS="-x -k codec")
# A second run skips steps 2-3 unless the lock, pyproject.toml, setup.py, a
# .pyx/.pxd or this Makefile changed, or a compiled module is missing.
# `make lock` regenerates the lock from pyproject.toml's ranges (uv pip compile);
# `make test-latest` runs the suite on the newest releases those ranges allow.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

# Debian packages the tests need (xmlsec1: the interop peer for signatures; chromium: renders the
# load test report in a headless browser; postgresql: the throwaway server of the PostgreSQL store
# and lease tests, tests/_postgres.py).
DEB_PACKAGES ?= xmlsec1 chromium postgresql
# Debian packages the build needs: a C compiler, Python headers, venv support.
DEB_BUILD_PACKAGES ?= gcc python3-dev python3-venv

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fleetven-install.stamp
LOCK := requirements/dev.lock
# The lock's tool, pinned so that `make lock` gives the same file on every machine.
UV_VERSION ?= 0.13.9
LATEST_VENV ?= .venv-latest
LOWEST_VENV ?= .venv-lowest
PYTEST_ARGS ?=
DEMO_ARGS ?=
BENCH_DIR ?= bench/results

PYX := $(wildcard fleetven/_fast/*.pyx)
PXD := $(wildcard fleetven/_fast/*.pxd)
# Compiled modules that should exist but do not (forces a rebuild).
EXT_MISSING := $(strip $(if $(FLEETVEN_NO_EXTENSIONS),,$(foreach p,$(PYX),$(if $(wildcard $(basename $(p)).*.so),,$(p)))))

# The newest python3.1x (>= 3.11) that can make a virtual environment;
# python3 when none answers (its version is checked below).
ifndef PYTHON
PYTHON := $(shell for v in 19 18 17 16 15 14 13 12 11; do \
	  if python3.$$v -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then \
	    echo python3.$$v; exit 0; fi; done; echo python3)
endif

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1
export DEBIAN_FRONTEND := noninteractive

.PHONY: test test-latest test-lowest lock demo deps system-packages venv bench docs lint clean distclean FORCE

## test: install everything needed, then run the whole test suite
test: deps
	$(PY) -m pytest $(PYTEST_ARGS)

## demo: install everything needed, then run a fleet of 1,000 VENs against a local OpenLEADR VTN
demo: deps
	$(PY) -m fleetven.app.demo $(DEMO_ARGS)

## deps: Debian packages, the virtual environment and fleetven (editable, compiled)
deps: system-packages $(STAMP)

## system-packages: apt-get install what is missing of DEB_BUILD_PACKAGES and DEB_PACKAGES
system-packages:
	@missing=""; \
	if command -v dpkg-query >/dev/null 2>&1; then \
	  for p in $(DEB_BUILD_PACKAGES) $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	  done; \
	else \
	  echo "make: not a Debian system (no dpkg-query); make sure these are installed: $(DEB_BUILD_PACKAGES) $(DEB_PACKAGES)"; \
	fi; \
	if [ -z "$$missing" ]; then \
	  echo "make: Debian packages present: $(DEB_BUILD_PACKAGES) $(DEB_PACKAGES)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  apt-get update -qq; \
	  apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  echo "make: installing Debian packages with sudo:$$missing"; \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	else \
	  echo "make: WARNING: not root, cannot install missing Debian packages:$$missing"; \
	  echo "make: install them (apt-get install$$missing); tests that need them will fail or skip"; \
	fi

## venv: the virtual environment in .venv
venv: $(PY)

$(PY):
	@echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'))"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fleetven needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(LOCK) pyproject.toml setup.py Makefile $(PYX) $(PXD) $(if $(EXT_MISSING),FORCE) | $(PY)
	@# exactly the locked set: every package pinned and hash-checked, nothing resolved here
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@# every .pyx must have become an importable .so (unless a pure build was asked for)
	@if [ -z "$${FLEETVEN_NO_EXTENSIONS:-}" ]; then \
	  for p in $(PYX); do \
	    ls $${p%.pyx}.*.so >/dev/null 2>&1 || { echo "make: ERROR: $$p was not compiled"; exit 1; }; \
	    echo "make: compiled $$(ls $${p%.pyx}.*.so)"; \
	  done; \
	fi
	touch $@

FORCE:

# The build requirements, read from pyproject.toml (one source of truth), plus wheel.
define BUILD_REQUIREMENTS
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"] + ["wheel"]))
endef
export BUILD_REQUIREMENTS

## lock: regenerate requirements/dev.lock from pyproject.toml's ranges (build, test and demo), with hashes
lock: | $(PY)
	$(PY) -m pip install -q "uv==$(UV_VERSION)"
	$(PY) -c "$$BUILD_REQUIREMENTS" > $(VENV)/build-requirements.in
	$(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  --extra test --extra demo pyproject.toml $(VENV)/build-requirements.in -o $(LOCK)
	@# the lock names the temporary input by its path in .venv: name it by what it is
	sed -i 's|$(VENV)/build-requirements.in|build-system requires (pyproject.toml)|' $(LOCK)
	@echo "make: wrote $(LOCK); commit it together with the pyproject.toml change"

## test-lowest: the suite with every runtime dependency at the lowest release pyproject.toml allows
# The runtime ranges' floors are resolved with uv (--resolution lowest-direct) and held as
# constraints while the test tools resolve as usual. mypy is not run: old releases carry
# older type stubs, and typing is checked against the lock.
test-lowest: system-packages | $(PY)
	$(PY) -m pip install -q "uv==$(UV_VERSION)"
	rm -rf $(LOWEST_VENV)
	rm -f fleetven/_fast/*.c fleetven/_fast/*.so $(STAMP)
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(VENV)/bin/uv pip compile --quiet --python-version 3.11 --resolution lowest-direct pyproject.toml \
	  -o $(LOWEST_VENV)/floors.txt
	$(PY) -c "$$BUILD_REQUIREMENTS" > $(LOWEST_VENV)/build-requirements.in
	$(VENV)/bin/uv pip compile --quiet --python-version 3.11 --extra test --extra demo pyproject.toml \
	  $(LOWEST_VENV)/build-requirements.in -c $(LOWEST_VENV)/floors.txt -o $(LOWEST_VENV)/requirements.txt
	@echo "make: the runtime dependencies at their floors:"
	grep -E "^($$(sed -n '/^dependencies = \[/,/^\]/p' pyproject.toml | grep -oE '^ *"[A-Za-z0-9_.-]+' \
	  | tr -d ' "' | tr 'A-Z_' 'a-z-' | paste -sd'|'))==" <(tr 'A-Z_' 'a-z-' < $(LOWEST_VENV)/requirements.txt)
	$(LOWEST_VENV)/bin/python -m pip install -q -r $(LOWEST_VENV)/requirements.txt
	$(LOWEST_VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	status=0; FLEETVEN_UNLOCKED=1 $(LOWEST_VENV)/bin/python -m pytest \
	  --deselect tests/test_quality.py::test_mypy_finds_nothing $(PYTEST_ARGS) || status=$$?; \
	  rm -f fleetven/_fast/*.c fleetven/_fast/*.so; exit $$status

## test-latest: a separate virtual environment with the newest releases pyproject.toml allows, then the suite
# The editable install compiles the extensions in place with the newest Cython and
# lxml; they are removed again afterwards (with .venv's stamp), so that the next
# `make test` rebuilds them with the locked ones.
test-latest: system-packages
	rm -rf $(LATEST_VENV)
	rm -f fleetven/_fast/*.c fleetven/_fast/*.so $(STAMP)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(PYTHON) -c "$$BUILD_REQUIREMENTS" > $(LATEST_VENV)/build-requirements.txt
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade -r $(LATEST_VENV)/build-requirements.txt
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager --no-build-isolation -e '.[test,demo]'
	@echo "make: the newest versions, beside the locked ones ($(LATEST_VENV)/freeze.txt):"
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable | tee $(LATEST_VENV)/freeze.txt | tr 'A-Z_' 'a-z-' | sort \
		| diff - <(grep -E '^[A-Za-z0-9]' $(LOCK) | sed 's/ .*//' | tr 'A-Z_' 'a-z-' | sort) || true
	@# FLEETVEN_UNLOCKED: the test that the environment equals the lock does not apply here
	status=0; FLEETVEN_UNLOCKED=1 $(LATEST_VENV)/bin/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	  rm -f fleetven/_fast/*.c fleetven/_fast/*.so; exit $$status

## bench: run every bench/*.py, writing JSON results into BENCH_DIR
bench: deps
	mkdir -p $(BENCH_DIR)
	@for b in bench/*.py; do \
	  [ -e "$$b" ] || continue; \
	  case "$$(basename $$b)" in _*) continue;; esac; \
	  echo "== $$b"; \
	  $(PY) "$$b" --json "$(BENCH_DIR)/$$(basename $${b%.py}).json"; \
	done

## docs: build the HTML documentation (warnings are errors)
docs: deps
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

## lint: ruff and mypy
lint: deps
	$(PY) -m ruff check fleetven tests bench setup.py docs/conf.py
	$(PY) -m mypy

## clean: remove build output, compiled modules and caches (keeps .venv)
clean:
	rm -rf build dist *.egg-info docs/_build .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f fleetven/_fast/*.c fleetven/_fast/*.html fleetven/_fast/*.so $(STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

## distclean: clean, and remove the virtual environment and benchmark results
distclean: clean
	rm -rf $(VENV) $(LATEST_VENV) $(LOWEST_VENV) $(BENCH_DIR)
