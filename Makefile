# netifrc-policyroute. `make demo` and `make test` bootstrap what they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
DEBS := openrc busybox iproute2 procps dash
STAMP := $(VENV)/.installed

.PHONY: all bootstrap debs test test-unit test-netns test-openrc demo bench lint clean

all: test

$(STAMP): python/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e 'python[test]'
	touch $@

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

bootstrap: $(STAMP) debs

test: bootstrap
	$(PYTEST) -q -rs tests

test-unit: bootstrap
	$(PYTEST) -q tests/unit

test-netns: bootstrap
	$(PYTEST) -q tests/netns

test-openrc: bootstrap
	$(PYTEST) -q tests/openrc

lint: bootstrap
	$(VENV)/bin/shellcheck -s sh netifrc-module/*.sh

demo: bootstrap
	$(PY) tests/lab/demo.py

bench: bootstrap
	$(PY) tests/bench/bench.py

clean:
	rm -rf $(VENV) python/*.egg-info python/build
