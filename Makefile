# tlsfit entry points. `make demo` and `make test` install what they need first.
PYTHON  ?= /usr/bin/python3
PROFILE ?= profiles/aws-iot-core.yaml
PYTEST  := $(PYTHON) -m pytest -q -p no:cacheprovider
# make install [PREFIX=/usr/local] [DESTDIR=stage]: a copy of tlsfit in $(PREFIX)/lib/tlsfit, run as $(PREFIX)/bin/tlsfit
PREFIX  ?= /usr/local
LIBDIR   = $(PREFIX)/lib/tlsfit
# every Python package of the checkout (a folder with __init__.py), and the data the code reads
INSTALL_TREES := $(sort $(patsubst %/__init__.py,%,$(wildcard */__init__.py))) ports templates profiles

.PHONY: help setup demo test test-all test-browser soak bench bench-footprint bench-choices bench-tune bench-boards gate baseline install deb ci-local clean

help:
	@echo "make demo            generate, build and measure the default profile ($(PROFILE))"
	@echo "make test            the default test suite (what .ci/run runs)"
	@echo "make test-all        the default suite plus the slow ones: every shipped profile in QEMU, both servers, the whole check_config matrix"
	@echo "make test-browser    render report.html in headless Chromium (installs chromium)"
	@echo "make bench           wall time and figures of 'tlsfit measure' per shipped profile"
	@echo "make bench-footprint tlsfit's mbedTLS ROM beside hand-tuned configs"
	@echo "make bench-choices   what each size choice saves (each undone alone, mbedTLS ROM and static RAM)"
	@echo "make bench-tune      tlsfit tune on three shipped profiles: the Pareto front and the search time"
	@echo "make bench-boards    four profiles on M0, M3, M4, M7, M33 and RV32 boards: ROM, RAM, handshake work"
	@echo "make soak            SOAK_RUNS (200) measures each against real nginx and Mosquitto: failures, slowest run"
	@echo "make gate            measure shipped profiles and gate them against ci/baseline.json"
	@echo "make baseline        re-measure shipped profiles and rewrite ci/baseline.json (review the diff)"
	@echo "make setup           install Debian packages and fetch mbedTLS (idempotent)"
	@echo "make install         install a copy in PREFIX (default /usr/local): PREFIX/bin/tlsfit, PREFIX/lib/tlsfit"
	@echo "make deb             build build/tlsfit_<version>_all.deb (dpkg-deb; files in /usr/lib/tlsfit, /usr/bin/tlsfit)"
	@echo "make ci-local        the firmware-repository CI steps on REPO (default: a scratch demo), see ci/README.md"

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

bench-tune: setup
	$(PYTHON) scripts/bench.py tune

bench-boards: setup
	$(PYTHON) scripts/bench.py boards

# SOAK_RUNS measures per server (nginx --app http, Mosquitto --app mqtt): failures and the slowest run
SOAK_RUNS ?= 200
soak: setup
	SOAK_RUNS=$(SOAK_RUNS) $(PYTEST) -m soak -s tests/test_soak.py

gate: setup
	ci/measure-shipped.sh build/gate
	./tlsfit gate --baseline ci/baseline.json --junit build/gate/junit.xml build/gate/*/report.json

baseline: setup
	ci/measure-shipped.sh build/gate
	./tlsfit gate --write-baseline ci/baseline.json build/gate/*/report.json

# The INSTALLED marker makes the copy an installed tlsfit (pipeline/workspace.py): outputs under ./build/tlsfit,
# mbedTLS and the build cache in $$XDG_CACHE_HOME/tlsfit. The checkout's ./tlsfit is unaffected.
install:
	rm -rf "$(DESTDIR)$(LIBDIR)"
	mkdir -p "$(DESTDIR)$(LIBDIR)/scripts" "$(DESTDIR)$(LIBDIR)/ci" "$(DESTDIR)$(PREFIX)/bin"
	tar -C "$(CURDIR)" --exclude=__pycache__ --exclude='*.pyc' -cf - $(INSTALL_TREES) | tar -C "$(DESTDIR)$(LIBDIR)" -xf -
	install -m 755 tlsfit "$(DESTDIR)$(LIBDIR)/tlsfit"
	install -m 755 scripts/setup.sh scripts/ci-local.sh "$(DESTDIR)$(LIBDIR)/scripts/"
	install -m 644 ci/limits.yaml ci/github-actions.yml ci/gitlab-ci.yml ci/README.md "$(DESTDIR)$(LIBDIR)/ci/"
	echo "tlsfit installed by make install: outputs in ./build/tlsfit, caches in ~/.cache/tlsfit" > "$(DESTDIR)$(LIBDIR)/INSTALLED"
	ln -sfn ../lib/tlsfit/tlsfit "$(DESTDIR)$(PREFIX)/bin/tlsfit"

deb:
	packaging/deb/build-deb.sh build

ci-local:
	scripts/ci-local.sh $(REPO)

clean:
	rm -rf $(filter-out build/deps,$(wildcard build/*))
