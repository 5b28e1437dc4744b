"""make install / uninstall and the Gentoo ebuild's install phases, run into
temporary images (no root needed: nothing outside tmp_path is written), and
what the package says about itself (layout, licence, dependencies) agreeing
everywhere it is said."""

import os
import re
import shutil
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

HELPER = "/usr/sbin/policyroute"         # one layout: make install, the ebuild, the docs

needs_scdoc = pytest.mark.skipif(shutil.which("scdoc") is None,
                                 reason="scdoc missing (make bootstrap installs it)")


def tree(root):
    return {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file()}


def make(*args):
    subprocess.run(["make", "-s", "-C", str(REPO), *args], check=True, capture_output=True)


@needs_scdoc
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
    assert wrapper.startswith("#!/usr/bin/python3 -IS\n")
    assert '"/usr/lib/netifrc-policyroute"' in wrapper
    assert os.access(tmp_path / "usr/sbin/policyroute", os.X_OK)
    assert "201\tpolicyroute" in (tmp_path / "etc/iproute2/rt_protos.d/policyroute.conf").read_text()
    make("uninstall", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    assert tree(tmp_path) == set()


@needs_scdoc
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
die() { echo "die: $*" >&2; exit 1; }
dodir() { mkdir -p "${ED}$1"; }
distutils-r1_python_install_all() { echo distutils-r1_python_install_all >> "$T/calls"; }
emake() { make -s "$@"; }
epytest() { echo "epytest $*" >> "$T/calls"; }
optfeature() { echo "optfeature $*" >> "$T/calls"; }
source "$1"
# python_install, per implementation, leaves the python-exec entry point:
mkdir -p "${D}/usr/bin" && echo "#!python-exec2" > "${D}/usr/bin/policyroute"
python_compile_all
python_install_all
python_test
pkg_postinst
'''


EBUILDS = [f"netifrc-policyroute-{VERSION}.ebuild", "netifrc-policyroute-9999.ebuild"]


@needs_scdoc
@pytest.mark.parametrize("ebuild", EBUILDS)
def test_ebuild_install_phases_produce_the_same_tree(tmp_path, ebuild):
    pv = ebuild.rsplit("-", 1)[1].removesuffix(".ebuild")
    p = f"netifrc-policyroute-{pv}"
    work, image, temp = tmp_path / "work", tmp_path / "image", tmp_path / "temp"
    work.mkdir(), image.mkdir(), temp.mkdir()
    (work / p).symlink_to(REPO)
    env = dict(os.environ, WORKDIR=str(work), P=p, PV=pv, PF=p, D=str(image), ED=str(image),
               EPREFIX="", T=str(temp), PYTHON_USEDEP="")
    proc = subprocess.run(["bash", "-c", STANDINS, "ebuild", str(EBUILD_DIR / ebuild)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = (temp / "calls").read_text().splitlines()
    assert calls == ["distutils-r1_python_install_all", f"epytest {work / p}/tests/unit",
                     "optfeature policyroute show --yaml dev-python/pyyaml"]
    docs = {f"usr/share/doc/{p}/{d}" for d in DOCS}
    assert tree(image) == DATA | docs | {HELPER.lstrip("/")}
    assert not (image / "usr/bin").exists()
    module = (image / "lib/netifrc/net/policyroute.sh").read_text()
    assert f'_policyroute_helper="{HELPER}"' in module

    # the same data files as make install, byte for byte
    ref = tmp_path / "ref"
    make("install", f"DESTDIR={ref}", "PREFIX=/usr")
    for f in DATA:
        assert (image / f).read_bytes() == (ref / f).read_bytes(), f


def ebuild_vars(ebuild, *names):
    """The ebuild's variables as bash sees them after sourcing it."""
    script = STANDINS.split("source")[0] + 'source "$1"\n' + "".join(
        f'printf "%s\\0" "${name}"\n' for name in names)
    proc = subprocess.run(["bash", "-c", script, "ebuild", str(EBUILD_DIR / ebuild)],
                          env=dict(os.environ, PYTHON_USEDEP="python_targets_x(-)"),
                          capture_output=True, text=True, check=True)
    return dict(zip(names, proc.stdout.split("\0")))


@pytest.mark.parametrize("ebuild", EBUILDS)
def test_ebuild_metadata_and_dependencies(ebuild):
    import xml.etree.ElementTree as ET
    root = ET.parse(EBUILD_DIR / "metadata.xml").getroot()
    assert root.tag == "pkgmetadata" and root.find("maintainer/email") is not None
    text = (EBUILD_DIR / ebuild).read_text()
    assert "EAPI=8" in text and "DISTUTILS_USE_PEP517=setuptools" in text
    assert subprocess.run(["bash", "-n", str(EBUILD_DIR / ebuild)]).returncode == 0
    v = ebuild_vars(ebuild, "RDEPEND", "BDEPEND", "LICENSE")
    assert v["RDEPEND"].split() == ["dev-python/pyroute2[python_targets_x(-)]", "net-misc/netifrc",
                                    "sys-apps/iproute2"]
    # What the unit tier runs: every /bin/sh the module must parse under,
    # shellcheck, the YAML corpus; scdoc for the man pages.
    test = re.search(r"test\?\s*\((.*)\)", v["BDEPEND"], re.S).group(1).split()
    for dep in ("app-shells/dash", "sys-apps/busybox", "dev-util/shellcheck",
                "dev-python/pyyaml[python_targets_x(-)]"):
        assert dep in test, v["BDEPEND"]
    assert "app-text/scdoc" in v["BDEPEND"].split()
    assert v["LICENSE"] == "BSD-2"


# ---------------------------------------------------------------- what the package says

def pyproject():
    tomllib = pytest.importorskip("tomllib")       # Python 3.11+
    return tomllib.loads((REPO / "python/pyproject.toml").read_text())


def test_one_licence_everywhere():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 2-Clause License\n")
    assert "Copyright (c) 2026, netifrc-policyroute authors" in text
    assert pyproject()["project"]["license"] == "BSD-2-Clause"
    for ebuild in EBUILDS:
        assert ebuild_vars(ebuild, "LICENSE")["LICENSE"] == "BSD-2"     # Gentoo's name for it


def test_pyyaml_is_needed_for_show_yaml_only():
    project = pyproject()["project"]
    assert not any("yaml" in d.lower() for d in project["dependencies"])
    assert project["optional-dependencies"]["yaml"] == ["pyyaml"]
    importers = sorted(str(f.relative_to(REPO / "python")) for f in
                       (REPO / "python/policyroute").rglob("*.py")
                       if re.search(r"^\s*(import yaml|from yaml)", f.read_text(), re.M))
    assert importers == ["policyroute/commands/show.py"]
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "PyYAML only for `policyroute show --yaml`" in readme


def test_one_install_layout_everywhere():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^SBINDIR \?= \$\(PREFIX\)/sbin$", makefile, re.M)
    assert re.search(r"^HELPER \?= \$\(SBINDIR\)/policyroute$", makefile, re.M)
    readme = (REPO / "README.md").read_text()
    man = (REPO / "docs/policyroute.8.scd").read_text()
    for text in (readme, man):
        assert "/usr/bin/policyroute" not in text
    assert f"`{HELPER}`" in readme
    for ebuild in EBUILDS:          # (the image test sees it moved there)
        assert f'HELPER="${{EPREFIX}}{HELPER}"' in (EBUILD_DIR / ebuild).read_text()


def test_man_page_files_names_every_file_installed_or_written():
    man = (REPO / "docs/policyroute.8.scd").read_text().replace("\\_", "_")
    files = man[man.index("# FILES"):man.index("# ENVIRONMENT")]
    for path in [HELPER, "/lib/netifrc/net/policyroute.sh", "/usr/lib/netifrc-policyroute",
                 "/etc/iproute2/rt_protos.d/policyroute.conf",
                 "/etc/iproute2/rt_tables.d/policyroute.conf", "/run/policyroute/.tables.lock",
                 "/run/policyroute/IFACE.json", "/run/policyroute/netns/NS/IFACE.json",
                 "/etc/conf.d/net"]:
        assert path in files, path
