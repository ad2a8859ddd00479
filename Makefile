# The README's set-up commands. Both create .venv on first use and reuse it after; nothing here
# needs root (the renderer uses the system's libEGL + Mesa, which the README says how to get).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nova3d-installed
DEMO_DIR ?= out/demo
# the venv's tools (ninja for JIT-compiled ops) must be on PATH for the commands below
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: test demo venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install -q --no-deps lpips==0.1.4
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	bash _scripts/demo.sh $(DEMO_DIR)

clean-venv:
	rm -rf $(VENV)
