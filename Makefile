# Status Server — the commands a user needs. See README.md.
SHELL := /bin/bash
BUILD ?= build
PRESET ?= release
NODES ?= 3
# make up TLS=1: TLS on every hop (HTTPS, AMQPS; a private CA under .run/tls).
TLS ?= 0
# make up HA=1: no single point of failure (3 clustered brokers, 2 registries, 2 gateways).
HA ?= 0
JOBS ?= 2
export CCACHE_DIR ?= $(HOME)/.cache/ccache
# Relative paths in the cache key: clones in other folders (CI) reuse the cache.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= true

.PHONY: all deps build test unit system browser bench up clean asan fuzz chaos test-hosts web

all: build

deps:
	@scripts/install-deps

build: deps
	@[ -f $(BUILD)/build.ninja ] || cmake --preset $(PRESET) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build
	@WITH_BROWSER=1 scripts/install-deps
	scripts/run-tests

unit: build
	cd $(BUILD) && ctest --output-on-failure -j 2

asan:
	cmake --preset asan >/dev/null && cmake --build build-asan -j $(JOBS)

# libFuzzer over every parser of outside input (tests/fuzz); FUZZ_SECONDS of fuzzing, bounded.
FUZZ_SECONDS ?= 120
fuzz:
	@command -v clang++ >/dev/null || WITH_FUZZ=1 scripts/install-deps
	cmake --preset fuzz >/dev/null && cmake --build build-fuzz -j $(JOBS)
	tests/fuzz/run $(FUZZ_SECONDS)

# Jepsen-style run (tests/chaos, docs/testing.md): faults over a mixed load, then the checker.
# Needs root (a tmpfs per node). CHAOS_ARGS e.g. "--report chaos.json --faults=-clock_jump".
CHAOS_SECONDS ?= 60
CHAOS_SEED ?= 1
CHAOS_ARGS ?=
chaos: build
	tests/chaos/run --seconds $(CHAOS_SECONDS) --seed $(CHAOS_SEED) $(CHAOS_ARGS)

# Host-level tests (tests/hosts, docs/testing.md): every process in a network namespace of its
# own, faults of every kind over a longer load. Needs root. HOSTS_BROKERS=N: N brokers (the
# broker kill needs a broker cluster). HOSTS_RESULT=FILE: the run's figures as JSON.
test-hosts: build
	HOSTS_FULL=1 tests/hosts/run -k full

bench: build
	@WITH_BROWSER=1 scripts/install-deps
	bench/run

# The web client's bundles (web/dist/) from its sources (web/js/), after an edit there:
# esbuild from tests/browser's npm packages. `make test` checks that they are current.
web:
	@[ -d tests/browser/node_modules/esbuild ] || (cd tests/browser && npm ci --no-audit --no-fund)
	scripts/web-bundle.mjs

up: build
	TLS=$(TLS) HA=$(HA) scripts/up $(NODES)

clean:
	rm -rf build build-debug build-asan build-fuzz
