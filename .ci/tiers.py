"""Read pytest's JUnit report: fail on any skipped test, on any tier
(a folder under tests/) that ran no test, and on a kernel scenario (one
boot of user-mode-linux, one test module) of which no test ran."""

import sys
import xml.etree.ElementTree as ET

SHELLS = ("bash", "dash", "busybox")
KERNEL_MODULES = ("test_seed", "test_bond_vrf", "test_standin")


def main(report, tiers):
    root = ET.parse(report).getroot()
    ran = {tier: 0 for tier in tiers}
    skipped = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("skipped") is not None:
            skipped.append(name)
            continue
        parts = case.get("classname", "").split(".")
        for tier in tiers:
            if tier in parts[:2]:
                ran[tier] += 1
    for tier, count in ran.items():
        print(f"ci: tier {tier}: {count} tests ran")
    bad = [t for t, c in ran.items() if c == 0]
    names = [c.get("name", "") for c in root.iter("testcase")
             if "openrc" in c.get("classname", "").split(".")[:2]]
    for shell in SHELLS:
        count = sum(f"[{shell}" in n or f"-{shell}" in n for n in names)
        print(f"ci: openrc tier under {shell}: {count} tests")
        if "openrc" in tiers and count == 0:
            bad.append(f"openrc under {shell}")
    if "kernel" in tiers:
        ran_modules = [c.get("classname", "").split(".") for c in root.iter("testcase")
                       if c.find("skipped") is None]
        for module in KERNEL_MODULES:
            count = sum("kernel" in p[:2] and module in p for p in ran_modules)
            print(f"ci: kernel tier {module}: {count} tests")
            if count == 0:
                bad.append(f"kernel {module}")
    if skipped:
        print(f"ci: {len(skipped)} tests were skipped:", *skipped, sep="\n  ", file=sys.stderr)
    if bad:
        print(f"ci: tiers with no test run: {', '.join(bad)}", file=sys.stderr)
    return 1 if skipped or bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
