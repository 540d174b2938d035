# tlsfit entry points. `make demo` and `make test` install what they need first.
PYTHON  ?= /usr/bin/python3
PROFILE ?= profiles/aws-iot-core.yaml
PYTEST  := $(PYTHON) -m pytest -q -p no:cacheprovider

.PHONY: help setup demo test test-all test-browser bench bench-footprint bench-choices gate baseline install clean

help:
	@echo "make demo            generate, build and measure the default profile ($(PROFILE))"
	@echo "make test            the default test suite (what .ci/run runs)"
	@echo "make test-all        every shipped profile in QEMU, both servers (slow)"
	@echo "make test-browser    render report.html in headless Chromium (installs chromium)"
	@echo "make bench           wall time and figures of 'tlsfit measure' per shipped profile"
	@echo "make bench-footprint tlsfit's mbedTLS ROM beside hand-tuned configs"
	@echo "make bench-choices   what each size choice saves (each undone alone, mbedTLS ROM and static RAM)"
	@echo "make gate            measure shipped profiles and gate them against ci/baseline.json"
	@echo "make baseline        re-measure shipped profiles and rewrite ci/baseline.json (review the diff)"
	@echo "make setup           install Debian packages and fetch mbedTLS (idempotent)"
	@echo "make install         put tlsfit on PATH (/usr/local/bin)"

setup:
	@scripts/setup.sh

demo: setup
	./tlsfit gen $(PROFILE)
	./tlsfit measure $(PROFILE)

test: setup
	$(PYTEST) -m "not slow and not browser" tests

test-all: setup
	$(PYTEST) -m "not browser" tests

test-browser: setup
	@command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
	$(PYTEST) -m browser tests

bench: setup
	$(PYTHON) scripts/bench.py measure

bench-footprint: setup
	$(PYTHON) scripts/bench.py footprint

bench-choices: setup
	$(PYTHON) scripts/bench.py choices

gate: setup
	ci/measure-shipped.sh build/gate
	./tlsfit gate --baseline ci/baseline.json --junit build/gate/junit.xml build/gate/*/report.json

baseline: setup
	ci/measure-shipped.sh build/gate
	./tlsfit gate --write-baseline ci/baseline.json build/gate/*/report.json

install:
	ln -sf $(CURDIR)/tlsfit /usr/local/bin/tlsfit

clean:
	rm -rf $(filter-out build/deps,$(wildcard build/*))
