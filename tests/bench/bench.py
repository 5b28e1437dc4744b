"""Benchmark: figures measured side by side in one run, printed as a table.

* helper post-start / stop at 4 and 1000 addresses, beside the bare cost
  of what it must do anyway (python3 start-up; the same ip commands as one
  ip -batch), with the ratio;
* the helper's peak memory (max RSS);
* rules after 20 restarts, and after 20 starts without a stop;
* rc-service net.X start with and without the module (real OpenRC,
  project harness), 4 addresses.

Run as root: `make bench` (or .venv/bin/python tests/bench/bench.py).
Everything happens in namespaces made and removed here.
"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def timed(argv, env=None, stdin=None):
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, text=True, env=env, input=stdin)
    return time.perf_counter() - t


def median_ms(samples):
    return statistics.median(samples) * 1000


def install(root):
    sh("make", "-s", "-C", str(REPO), "install", "DESTDIR=", f"PREFIX={root}/usr",
       f"MODULEDIR={root}/net", f"IPROUTE2DIR={root}/etc/iproute2", "PYTHON=/usr/bin/python3")
    return root / "usr/sbin/policyroute", root / "net/policyroute.sh"


class Box:
    """One namespace with eth1.10 (a veth) holding n addresses."""

    def __init__(self, n):
        self.ns = f"prbench-{uuid.uuid4().hex[:8]}"
        sh("ip", "netns", "add", self.ns)
        ip = ["ip", "-n", self.ns]
        sh(*ip, "link", "add", "eth1.10", "type", "veth", "peer", "name", "sw1")
        sh(*ip, "link", "set", "eth1.10", "up")
        sh(*ip, "link", "set", "sw1", "up")
        lines = [f"address add 192.0.2.{17 + i}/24 dev eth1.10" for i in range(min(n, 200))]
        lines += [f"address add 198.51.{100 + (i // 250) % 4}.{1 + i % 250}/32 dev eth1.10"
                  for i in range(max(0, n - 200))]
        subprocess.run([*ip, "-batch", "-"], input="\n".join(lines) + "\n", check=True,
                       capture_output=True, text=True)
        sh(*ip, "route", "add", "default", "via", "192.0.2.1")

    def rules(self):
        return len(sh("ip", "-n", self.ns, "-N", "rule", "show").stdout.splitlines())

    def close(self):
        subprocess.run(["ip", "netns", "del", self.ns], check=False)


def helper_figures(helper, n, tmp):
    env = dict(os.environ, POLICYROUTE_STATE_DIR=f"{tmp}/run{n}",
               POLICYROUTE_IPROUTE2_DIR=f"{tmp}/etc{n}")
    box = Box(n)
    try:
        args = ["--netns", box.ns, "--table", "e1v10"]
        sh(str(helper), "pre-start", "eth1.10", *args, env=env)
        start, stop = [], []
        for _ in range(RUNS):
            start.append(timed([str(helper), "post-start", "eth1.10", *args], env))
            stop.append(timed([str(helper), "stop", "eth1.10", "--netns", box.ns], env))
        lines = sh(str(helper), "-v", "post-start", "eth1.10", *args, env=env).stdout
        prefix = f"ip -n {box.ns} -4 "
        ops = [line[len(prefix):] for line in lines.splitlines() if line.startswith(prefix)]
        sh(str(helper), "stop", "eth1.10", "--netns", box.ns, env=env)
        batch = [timed(["ip", "-n", box.ns, "-4", "-batch", "-"], stdin="\n".join(ops) + "\n")
                 for _ in range(1)]
        sh("ip", "-n", box.ns, "-4", "-force", "-batch", "-",
           input="\n".join(o.replace(" add ", " del ", 1) for o in ops) + "\n")
        py = [timed(["/usr/bin/python3", "-I", "-c", "pass"]) for _ in range(RUNS)]
        return {"start": median_ms(start), "stop": median_ms(stop),
                "batch": median_ms(batch), "python": median_ms(py), "ops": len(ops)}
    finally:
        box.close()


def restart_figures(helper, tmp):
    env = dict(os.environ, POLICYROUTE_STATE_DIR=f"{tmp}/runr", POLICYROUTE_IPROUTE2_DIR=f"{tmp}/etcr")
    box = Box(4)
    try:
        args = ["--netns", box.ns, "--table", "e1v10", "--rules", "from 192.0.2.17 to 198.51.100.0/24"]
        sh(str(helper), "post-start", "eth1.10", *args, env=env)
        once = box.rules()
        for _ in range(20):
            sh(str(helper), "stop", "eth1.10", "--netns", box.ns, env=env)
            sh(str(helper), "post-start", "eth1.10", *args, env=env)
        restarted = box.rules()
        for _ in range(20):
            sh(str(helper), "post-start", "eth1.10", *args, env=env)
        zapped = box.rules()
        sh(str(helper), "stop", "eth1.10", "--netns", box.ns, env=env)
        return once, restarted, zapped, box.rules()
    finally:
        box.close()


def openrc_figures(module):
    from openrc.harness import World
    conf = ('config_eth1_10="192.0.2.17/24\n192.0.2.18/24\n192.0.2.19/24\n192.0.2.20/24"\n'
            'routes_eth1_10="default via 192.0.2.3 table e1v10"\n')
    out = {}
    for label, extra in (("without", ""), ("with", 'table_eth1_10="e1v10"\n')):
        with World(shell="dash") as w:
            w.veth("eth1.10")
            w.write_rt_tables("1026 e1v10\n", name="seed.conf")
            if extra:
                w.install_module(module)
            w.write_conf(conf + extra)
            samples = []
            for _ in range(RUNS):
                t = time.perf_counter()
                proc = w.rc("net.eth1.10", "start")
                samples.append(time.perf_counter() - t)
                assert proc.returncode == 0, proc.stdout + proc.stderr
                w.rc("net.eth1.10", "stop")
            out[label] = median_ms(samples)
    return out


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces)")
    with tempfile.TemporaryDirectory(prefix="prbench-") as tmp:
        helper, module = install(Path(tmp) / "inst")
        rows = {n: helper_figures(helper, n, tmp) for n in (4, 1000)}
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        once, restarted, zapped, after = restart_figures(helper, tmp)
        rc = openrc_figures(module)
    print(f"policyroute benchmark, median of {RUNS} runs, ms")
    print(f"{'addresses':>10} {'ip ops':>7} {'post-start':>11} {'stop':>7} "
          f"{'python3 -c':>11} {'ip -batch':>10} {'start/(py+batch)':>17}")
    for n, r in rows.items():
        floor = r["python"] + r["batch"]
        print(f"{n:>10} {r['ops']:>7} {r['start']:>11.1f} {r['stop']:>7.1f} "
              f"{r['python']:>11.1f} {r['batch']:>10.1f} {r['start'] / floor:>16.2f}x")
    print(f"peak RSS of any child process (helper, ip, python): {rss:.1f} MiB")
    print(f"ip rule lines: after one start {once}, after 20 stop+start {restarted}, "
          f"after 20 more starts without stop {zapped}, after stop {after}")
    print(f"rc-service net.eth1.10 start (4 addresses): without module {rc['without']:.1f} ms, "
          f"with module {rc['with']:.1f} ms, ratio {rc['with'] / rc['without']:.2f}x")


if __name__ == "__main__":
    main()
