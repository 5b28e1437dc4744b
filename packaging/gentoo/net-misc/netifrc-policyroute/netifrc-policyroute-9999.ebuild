# Copyright 2026 netifrc-policyroute contributors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DISTUTILS_USE_PEP517=setuptools
PYTHON_COMPAT=( python3_{10..13} )

inherit distutils-r1 git-r3 optfeature

DESCRIPTION="Source-based policy routing for netifrc: a table and rules per interface"
HOMEPAGE="https://github.com/netifrc-policyroute/netifrc-policyroute"
EGIT_REPO_URI="https://github.com/netifrc-policyroute/netifrc-policyroute.git"
# The Python helper lives in python/; the module, docs and man pages at the top.
S="${WORKDIR}/${P}/python"

LICENSE="BSD-2"
SLOT="0"
KEYWORDS=""

# pyroute2: the follower's kernel events (addresses, carrier, routes).
RDEPEND="
	dev-python/pyroute2[${PYTHON_USEDEP}]
	net-misc/netifrc
	sys-apps/iproute2
"
# The unit tier lints the netifrc module under every /bin/sh it must run
# on and with shellcheck, reads its YAML corpus, and builds the man pages.
BDEPEND="
	app-text/scdoc
	test? (
		app-shells/dash
		dev-python/pyyaml[${PYTHON_USEDEP}]
		sys-apps/busybox
		|| ( dev-util/shellcheck-bin dev-util/shellcheck )
	)
"

distutils_enable_tests pytest

python_test() {
	epytest "${WORKDIR}/${P}/tests/unit"
}

python_compile_all() {
	emake -C "${WORKDIR}/${P}" man
}

python_install_all() {
	distutils-r1_python_install_all
	# A root-only network tool: /usr/sbin, where make install puts it too.
	dodir /usr/sbin
	mv "${ED}"/usr/bin/policyroute "${ED}"/usr/sbin/ || die
	rmdir "${ED}"/usr/bin || die
	# The module gets the helper's absolute path; OpenRC's PATH is not trusted.
	emake -C "${WORKDIR}/${P}" DESTDIR="${D}" PREFIX="${EPREFIX}/usr" \
		MODULEDIR="${EPREFIX}/lib/netifrc/net" IPROUTE2DIR="${EPREFIX}/etc/iproute2" \
		DOCDIR="${EPREFIX}/usr/share/doc/${PF}" HELPER="${EPREFIX}/usr/sbin/policyroute" \
		install-module install-data
}

pkg_postinst() {
	optfeature "policyroute show --yaml" dev-python/pyyaml
}
