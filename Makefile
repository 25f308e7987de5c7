# Set-up and everyday targets. `make demo` runs the main job end to end on the embedded
# default (local CPU, local disk); `make test` runs the test suite. Both create the
# virtualenv and install everything from scratch when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# tcmalloc (Debian libtcmalloc-minimal4) removes the page faults glibc malloc costs every
# XLA:CPU step; it must be preloaded when the process starts. Used when installed.
TCMALLOC := $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4))
FAST_ALLOC := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC) TCMALLOC_RELEASE_RATE=0)

.PHONY: install test demo proto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	@# pytest exits 5 when it collects nothing: a suite that runs no test is a failure.
	$(PY) -m pytest -q --durations=15 || { s=$$?; [ $$s -ne 5 ] || echo "pytest collected no tests" >&2; exit $$s; }

demo: $(STAMP)
	$(VENV)/bin/lc0-train gen-data --out runs/demo-data/train --games 48 --seed 1
	$(VENV)/bin/lc0-train gen-data --out runs/demo-data/test --games 8 --seed 2
	$(FAST_ALLOC) VENV=$(VENV) deploy/demo.sh

# Regenerates the checked-in Python code (messages and gRPC stubs) from proto/lc0train/*.proto.
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto proto/lc0train/*.proto

bench: $(STAMP)
	$(PY) bench/loader.py
	for preset in tiny small medium; do $(FAST_ALLOC) $(PY) bench/train_step.py --preset $$preset --json; done
	$(FAST_ALLOC) $(PY) bench/service.py --json

clean:
	rm -rf $(VENV) runs
