"""make install / uninstall and the Gentoo ebuild's install phases, run into
temporary images (no root needed: nothing outside tmp_path is written)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EBUILD_DIR = REPO / "packaging/gentoo/net-misc/netifrc-policyroute"
VERSION = "0.1.0"

DATA = {
    "etc/iproute2/rt_protos.d/policyroute.conf",
    "lib/netifrc/net/policyroute.sh",
    "usr/share/man/man8/policyroute.8",
    "usr/share/man/man5/netifrc-policyroute.5",
}
DOCS = {"README.md", "configuration.md", "design.md", "migrating.md", "troubleshooting.md"}

pytestmark = pytest.mark.skipif(subprocess.run(["which", "scdoc"], capture_output=True)
                                .returncode != 0, reason="scdoc (Debian package) missing")


def tree(root):
    return {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file()}


def make(*args):
    subprocess.run(["make", "-s", "-C", str(REPO), *args], check=True, capture_output=True)


def test_make_install_tree_and_uninstall(tmp_path):
    make("install", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    files = tree(tmp_path)
    py = {f"usr/lib/netifrc-policyroute/{p.relative_to(REPO / 'python')}"
          for p in (REPO / "python/policyroute").rglob("*.py")}
    docs = {f"usr/share/doc/netifrc-policyroute/{d}" for d in DOCS}
    assert files == DATA | docs | py | {"usr/sbin/policyroute"}
    module = (tmp_path / "lib/netifrc/net/policyroute.sh").read_text()
    assert '_policyroute_helper="/usr/sbin/policyroute"' in module
    assert "@POLICYROUTE@" not in module
    wrapper = (tmp_path / "usr/sbin/policyroute").read_text()
    assert wrapper.startswith("#!/usr/bin/python3 -I\n")
    assert '"/usr/lib/netifrc-policyroute"' in wrapper
    assert os.access(tmp_path / "usr/sbin/policyroute", os.X_OK)
    assert "201\tpolicyroute" in (tmp_path / "etc/iproute2/rt_protos.d/policyroute.conf").read_text()
    make("uninstall", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    assert tree(tmp_path) == set()


def test_installed_helper_runs_from_its_own_folder(tmp_path):
    make("install", "DESTDIR=", f"PREFIX={tmp_path}/usr", f"MODULEDIR={tmp_path}/net",
         f"IPROUTE2DIR={tmp_path}/etc/iproute2", "PYTHON=/usr/bin/python3")
    proc = subprocess.run([str(tmp_path / "usr/sbin/policyroute"), "--version"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout.strip() == f"policyroute {VERSION}"


# Minimal stand-ins for what the ebuild calls from the package manager and
# distutils-r1; emake is make. The python half (wheel into site-packages)
# is the eclass's own and not re-enacted here.
STANDINS = r'''
set -e
inherit() { :; }
distutils_enable_tests() { :; }
distutils-r1_python_install_all() { echo distutils-r1_python_install_all >> "$T/calls"; }
emake() { make -s "$@"; }
epytest() { echo "epytest $*" >> "$T/calls"; }
source "$1"
python_compile_all
python_install_all
python_test
'''


@pytest.mark.parametrize("ebuild", [f"netifrc-policyroute-{VERSION}.ebuild",
                                    "netifrc-policyroute-9999.ebuild"])
def test_ebuild_install_phases_produce_the_same_tree(tmp_path, ebuild):
    pv = ebuild.rsplit("-", 1)[1].removesuffix(".ebuild")
    p = f"netifrc-policyroute-{pv}"
    work, image, temp = tmp_path / "work", tmp_path / "image", tmp_path / "temp"
    work.mkdir(), image.mkdir(), temp.mkdir()
    (work / p).symlink_to(REPO)
    env = dict(os.environ, WORKDIR=str(work), P=p, PV=pv, PF=p, D=str(image), EPREFIX="",
               T=str(temp), PYTHON_USEDEP="")
    proc = subprocess.run(["bash", "-c", STANDINS, "ebuild", str(EBUILD_DIR / ebuild)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = (temp / "calls").read_text().splitlines()
    assert calls == ["distutils-r1_python_install_all", f"epytest {work / p}/tests/unit"]
    docs = {f"usr/share/doc/{p}/{d}" for d in DOCS}
    assert tree(image) == DATA | docs
    module = (image / "lib/netifrc/net/policyroute.sh").read_text()
    assert '_policyroute_helper="/usr/bin/policyroute"' in module

    # the same data files as make install, byte for byte
    ref = tmp_path / "ref"
    make("install", f"DESTDIR={ref}", "PREFIX=/usr")
    for f in DATA - {"lib/netifrc/net/policyroute.sh"}:
        assert (image / f).read_bytes() == (ref / f).read_bytes(), f
    assert module == (ref / "lib/netifrc/net/policyroute.sh").read_text().replace(
        "/usr/sbin/policyroute", "/usr/bin/policyroute")


def test_ebuild_metadata_is_well_formed():
    import xml.etree.ElementTree as ET
    root = ET.parse(EBUILD_DIR / "metadata.xml").getroot()
    assert root.tag == "pkgmetadata" and root.find("maintainer/email") is not None
    for ebuild in EBUILD_DIR.glob("*.ebuild"):
        text = ebuild.read_text()
        assert "EAPI=8" in text and "DISTUTILS_USE_PEP517=setuptools" in text
        for dep in ("net-misc/netifrc", "sys-apps/iproute2", "dev-python/pyyaml"):
            assert dep in text
        assert subprocess.run(["bash", "-n", str(ebuild)]).returncode == 0
