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

.PHONY: test test-reference demo app venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt requirements-app.txt setup.py
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

# The web app (README, "Web app"): the extra [app] of setup.py (the test requirements include it too, for
# its browser tests); APP_ARGS passes flags, e.g. make app APP_ARGS="--port 8000".
app: $(STAMP)
	$(PY) -m pip install -q -r requirements-app.txt
	$(PY) -m _scripts.app $(APP_ARGS)

clean-venv:
	rm -rf $(VENV)

# The optional reference check (README, "Tests"): our AlexNet/LPIPS, FID Inception and CLIP against the
# real lpips, torch-fidelity and open_clip on the same random weights. Its own venv (about 6 GB: the
# CUDA build of torch, which runs on CPU), made on first use; not part of `make test`. The torch spec is
# repeated in the second install so that pip keeps these versions while it resolves the rest.
REF_VENV ?= .venv-reference
REF_TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
REF_PY := $(REF_VENV)/bin/python
REF_STAMP := $(REF_VENV)/.nova3d-reference-installed

$(REF_STAMP): requirements.txt requirements-test.txt requirements-reference.txt setup.py
	test -x $(REF_PY) || $(PYTHON) -m venv $(REF_VENV)
	$(REF_PY) -m pip install -q --upgrade pip
	$(REF_PY) -m pip install -q $(REF_TORCH_SPEC)
	$(REF_PY) -m pip install -q $(REF_TORCH_SPEC) -r requirements.txt -r requirements-test.txt \
		-r requirements-reference.txt
	$(REF_PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

test-reference: export PATH := $(abspath $(REF_VENV))/bin:$(PATH)
test-reference: $(REF_STAMP)
	$(REF_PY) -m pytest -q tests/reference
