# `make demo` and `make test` create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default so pip does not fetch the multi-GB CUDA build; on a GPU machine: make TORCH=torch ...
TORCH ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
# The versions CI tested (constraints.txt, recorded on Python 3.11). The newest releases requirements.txt allows, in a
# venv of their own: make test CONSTRAINTS= VENV=.venv-latest. Another Python gets the ranges too (some pinned
# versions exist only for 3.11+).
CONSTRAINTS ?= $(shell $(PYTHON) -c 'import sys; print("constraints.txt" if sys.version_info[:2] == (3, 11) else "")')
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
PYTEST_ARGS ?=

.PHONY: demo test install constraints clean

$(VENV)/.installed: requirements.txt requirements-test.txt $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIN) "$(TORCH)"
	$(PY) -m pip install --quiet $(PIN) -r requirements-test.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) main.py --demo

test: install
	TRL_GRPO_CONSTRAINTS="$(CONSTRAINTS)" $(PY) -m pytest $(PYTEST_ARGS)

# Record a venv's versions as the new tested set, after its tests pass: make constraints CONSTRAINTS= VENV=.venv-latest
constraints: install
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+.*/torch==\1/'; } \
		> constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) ckpts/demo results .pytest_cache
