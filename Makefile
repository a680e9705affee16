# llmsec.hardening — two commands do everything on a fresh Debian 12 machine, as root:
#   make demo   run the main job against a throwaway local host
#   make test   lint, sanity, unit tests, build and every Molecule scenario
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
REQS_HASH := $(shell cat requirements-dev.txt constraints-dev.txt | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQS_HASH)
COLLECTION_LINK := .collections/ansible_collections/llmsec/hardening

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_FORCE_COLOR := false
export NO_COLOR := 1
export COLUMNS := 160
export PY_COLORS := 0

.PHONY: help setup venv packages docker pkgcache images image-debian12 collection test lint docs sanity unit build packaging molecule bench demo demo-down clean

help:
	@echo "make demo       apply playbooks/site.yml to a throwaway host and show before/after"
	@echo "make demo-down  remove what make demo left running"
	@echo "make test       every check below, the cold image builds and every Molecule scenario, with a time table"
	@echo "make lint       ansible-lint"
	@echo "make docs       write each role's defaults/main.yml and README variable table from meta/argument_specs.yml"
	@echo "make sanity     ansible-test sanity"
	@echo "make unit       the unit tests (pytest tests/unit)"
	@echo "make build      the collection tarball"
	@echo "make packaging  install the tarball offline and check its docs, filters and EE definition"
	@echo "make molecule SCENARIOS='ollama_bind'   run some scenarios only (all without SCENARIOS)"
	@echo "make bench      benchmarks (BENCH_ARGS='--gib 8', FLEET_ARGS='--sizes 1,4', GATEWAY_ARGS='--streams 256', GUARD_ARGS='--windows 1,32', AUDIT_ARGS='--ops 5000', RAG_STAGE_ARGS='--guard-ms 0,50', RAG_SCAN_ARGS='--mb 20', FLEET_MON_ARGS='--hosts 0,100')"
	@echo "make setup      the venv, the collection link, Docker, the package cache and the test images"
	@echo "make clean      remove .build and what make demo left running"
	@echo "make pkgcache   start the package cache the test hosts download through (apt-cacher-ng)"

venv: $(STAMP)
$(STAMP): requirements-dev.txt constraints-dev.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing pinned tools into .venv"
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

# The repo root is the collection; Ansible finds it as llmsec.hardening through this
# link (committed, and named in ansible.cfg; recreated if a checkout lost it).
collection: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	@mkdir -p $(dir $@) && ln -sfn ../../../.. $@

packages:
	@tests/harness/ensure-packages.sh

docker:
	@tests/harness/ensure-docker.sh

# Test hosts download packages through it (apt-cacher-ng); the roles still install them.
pkgcache: packages
	@tests/harness/ensure-apt-cache.sh

# Both at once: each build mostly waits on debootstrap's downloads and unpacking.
images: docker packages pkgcache
	@tests/harness/build-image.sh bookworm llmsec/debian12 & bookworm=$$!; \
	  tests/harness/build-image.sh trixie llmsec/debian13 & trixie=$$!; \
	  rc=0; wait $$bookworm || rc=1; wait $$trixie || rc=1; exit $$rc

# The demo's host is Debian 12: it needs this one image only.
image-debian12: docker packages pkgcache
	@tests/harness/build-image.sh bookworm llmsec/debian12

setup: venv collection images

test: setup
	@tests/harness/test-all.sh

lint: venv collection
	ansible-lint

docs: venv
	$(VENV)/bin/python tools/role_docs.py

sanity: venv packages
	tests/harness/sanity.sh

unit: venv collection
	pytest -q -p no:cacheprovider tests/unit

build: venv
	tests/harness/build-collection.sh

packaging: venv
	tests/harness/packaging.sh

molecule: setup
	tests/harness/run-scenarios.sh $(SCENARIOS)

# Benchmarks print figures; they are never part of make test.
bench: venv packages collection images
	@tests/harness/ensure-packages.sh nginx wrk
	python3 tests/bench/model_checksum.py $(BENCH_ARGS)
	python3 tests/bench/seccomp_profiles.py
	$(VENV)/bin/python tests/bench/gateway/run.py $(GATEWAY_ARGS)
	$(VENV)/bin/python tests/bench/gateway/guard.py $(GUARD_ARGS)
	@test -x .build/bench-venv/bin/python || $(PYTHON) -m venv .build/bench-venv
	@.build/bench-venv/bin/pip install -q --disable-pip-version-check -r tests/bench/gateway/bare_requirements.txt
	.build/bench-venv/bin/python tests/bench/gateway/bare_proxies.py
	$(VENV)/bin/python tests/bench/fleet/run.py $(FLEET_ARGS)
	$(VENV)/bin/python tests/bench/ai_activity_audit/run.py $(AUDIT_ARGS)
	python3 tests/bench/rag_model_stage.py $(RAG_STAGE_ARGS)
	$(VENV)/bin/python tests/bench/rag_scan.py $(RAG_SCAN_ARGS)
	$(VENV)/bin/python tests/bench/fleet_monitoring.py $(FLEET_MON_ARGS)

demo: venv collection image-debian12
	@tests/demo/demo.sh

demo-down: docker
	@tests/demo/demo.sh down

clean: demo-down
	rm -rf .build
