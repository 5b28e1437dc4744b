# netifrc-policyroute. `make demo` and `make test` bootstrap what they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# python3-pyroute2: the follower on the system python3 (the OpenRC tier runs
# the installed helper there); radvd, dnsmasq-base, dhcpcd-base: the daemons
# the namespace tier brings addresses with. user-mode-linux: the kernel tier's
# real kernel (802.1Q, bonding, VRF), run as a process.
DEBS := openrc busybox iproute2 procps dash scdoc python3-pyroute2 radvd dnsmasq-base \
	dhcpcd-base user-mode-linux
STAMP := $(VENV)/.installed

.PHONY: all bootstrap debs test test-unit test-netns test-openrc test-kernel demo bench lint clean \
	install install-helper install-module install-data uninstall man dist

# Install layout. The helper runs on the system python3 from its own folder
# (no pip, no venv: Debian's pip refuses the system interpreter), and its
# absolute path is written into the netifrc module.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib/netifrc-policyroute
MODULEDIR ?= /lib/netifrc/net
DOCDIR ?= $(PREFIX)/share/doc/netifrc-policyroute
IPROUTE2DIR ?= /etc/iproute2
PYTHON ?= /usr/bin/python3
HELPER ?= $(SBINDIR)/policyroute
MANDIR ?= $(PREFIX)/share/man
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' python/policyroute/__init__.py)
MANPAGES := build/man/policyroute.8 build/man/netifrc-policyroute.5
DOCS := README.md docs/configuration.md docs/design.md docs/migrating.md docs/troubleshooting.md
PKGFILES := $(shell cd python && find policyroute -name '*.py' | sort)

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

test-kernel: bootstrap
	$(PYTEST) -q -rs tests/kernel

lint: bootstrap
	$(VENV)/bin/shellcheck -s sh netifrc-module/*.sh

demo: bootstrap
	$(PY) tests/lab/demo.py

bench: bootstrap
	$(PY) tests/bench/bench.py

clean:
	rm -rf $(VENV) build python/*.egg-info python/build

build/man/%: docs/%.scd
	@mkdir -p build/man
	scdoc < $< > $@

man: $(MANPAGES)

# A versioned release tarball of what git tracks.
dist:
	@mkdir -p build
	git archive --format=tar.gz --prefix=netifrc-policyroute-$(VERSION)/ \
		-o build/netifrc-policyroute-$(VERSION).tar.gz HEAD
	@echo build/netifrc-policyroute-$(VERSION).tar.gz

# install = the helper (system python3, own folder) + the module + data.
# A packager that installs the helper its own way (distutils-r1) runs
# install-module install-data with HELPER set to where it put it.
install: install-helper install-module install-data

install-helper:
	for f in $(PKGFILES); do install -D -m 0644 python/$$f $(DESTDIR)$(LIBDIR)/$$f; done
	install -d $(DESTDIR)$(SBINDIR)
	sed -e 's|@PYTHON@|$(PYTHON)|' -e 's|@LIBDIR@|$(LIBDIR)|' packaging/policyroute.in \
		> $(DESTDIR)$(SBINDIR)/policyroute
	chmod 0755 $(DESTDIR)$(SBINDIR)/policyroute

install-module:
	install -d $(DESTDIR)$(MODULEDIR)
	sed -e 's|@POLICYROUTE@|$(HELPER)|' netifrc-module/policyroute.sh \
		> $(DESTDIR)$(MODULEDIR)/policyroute.sh
	chmod 0644 $(DESTDIR)$(MODULEDIR)/policyroute.sh

install-data: $(MANPAGES)
	install -D -m 0644 packaging/rt_protos.conf $(DESTDIR)$(IPROUTE2DIR)/rt_protos.d/policyroute.conf
	install -D -m 0644 build/man/policyroute.8 $(DESTDIR)$(MANDIR)/man8/policyroute.8
	install -D -m 0644 build/man/netifrc-policyroute.5 $(DESTDIR)$(MANDIR)/man5/netifrc-policyroute.5
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/policyroute $(DESTDIR)$(MODULEDIR)/policyroute.sh \
		$(DESTDIR)$(IPROUTE2DIR)/rt_protos.d/policyroute.conf
	rm -f $(DESTDIR)$(MANDIR)/man8/policyroute.8 $(DESTDIR)$(MANDIR)/man5/netifrc-policyroute.5
	rm -rf $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DOCDIR)
