"""What ``show`` reports for one managed interface: its record, what the
kernel has now, and the drift between the two (or between the kernel and
what the configuration asks for, when the configuration is at hand)."""

from . import engine
from .observe import observe


def _lines(objs):
    return [f"-{o.family} {' '.join(o.args)}" for o in objs]


def status(record, cfg, paths, runner, sysctl_read):
    """A plain dict (JSON/YAML-ready) describing one interface."""
    seen = observe(runner, record.iface)
    have = set(seen.rule_keys + seen.route_keys)
    present = [o for o in record.objects if (o.family, o.key) in have]
    if cfg is not None:
        planned = engine.compute(cfg, paths, runner)
        missing = [op.obj for op in planned.ops if op.verb == "add"]
        extra = [op.obj for op in planned.ops if op.verb == "del"]
    else:
        missing = [o for o in record.objects if (o.family, o.key) not in have]
        extra = []
    return {
        "iface": record.iface,
        "netns": record.netns,
        "table": {"id": record.table, "name": record.table_name},
        "addresses": [f"{a.local}/{a.prefixlen}" for a in seen.addresses],
        "rules": _lines(o for o in present if o.kind == "rule"),
        "routes": _lines(o for o in present if o.kind == "route"),
        "sysctls": [{"key": k, "before": old, "set": new, "now": _now(sysctl_read, k)}
                    for k, old, new in record.sysctls],
        "drift": {"missing": _lines(missing), "extra": _lines(extra)},
    }


def _now(read, key):
    try:
        return read(key)
    except OSError:
        return None


def has_drift(item):
    return bool(item["drift"]["missing"] or item["drift"]["extra"])
