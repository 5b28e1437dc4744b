"""Same-subnet ARP and reverse-path settings (Documentation/networking/
ip-sysctl.rst) for the interfaces policyroute manages.

With two interfaces in one subnet, every interface answers ARP for every
local address, so neighbours learn 192.0.2.17 at eth0.10's MAC. We set:
  arp_ignore=1    answer only for addresses configured on the asking link
  arp_announce=2  use the outgoing link's own address as ARP source
  rp_filter=2     loose, where the effective value max(all, iface) is strict
Previous values are recorded and put back at stop, unless someone changed
them again in between.
"""

WANT = (("arp_ignore", "1"), ("arp_announce", "2"))
LOOSE = ("rp_filter", "2")


def key(iface, name, scope=None):
    return f"net/ipv4/conf/{scope or iface}/{name}"


def keys(iface):
    """Every key policyroute may write for iface: all a record may list."""
    return {key(iface, name) for name, _value in (*WANT, LOOSE)}


class Sysctl:
    def __init__(self, runner):
        self.runner = runner

    def wanted(self, iface, recorded_keys):
        out = list(WANT)
        strict = max(int(self.runner.sysctl_read(key(iface, "rp_filter", "all"))),
                     int(self.runner.sysctl_read(key(iface, "rp_filter")))) == 1
        if strict or key(iface, "rp_filter") in recorded_keys:
            out.append(LOOSE)
        return out

    def planned(self, cfg, table_id, recorded):
        """[[key, old, new], ...] that apply() would record; writes nothing.
        A key already recorded keeps its recorded old value."""
        if table_id is None or not cfg.arp:
            return []
        known = {k: old for k, old, _new in recorded}
        out = []
        for name, value in self.wanted(cfg.iface, known):
            k = key(cfg.iface, name)
            out.append([k, known[k] if k in known else self.runner.sysctl_read(k), value])
        return out

    def apply(self, cfg, table_id, recorded, planned=None):
        """Set what is wanted; returns the record [[key, old, new], ...]."""
        out = self.planned(cfg, table_id, recorded) if planned is None else planned
        if not out:
            return self.restore(recorded)
        for k, _old, value in out:
            if self.runner.sysctl_read(k) != value:
                self.runner.sysctl_write(k, value)
        for k, old, new in recorded:
            if k not in {e[0] for e in out}:
                self._put_back(k, old, new)
        return out

    def guessed(self, iface):
        """[[key, old, new], ...] for an interface whose record is lost but
        whose objects show an earlier start: where it has what we set and
        a new link would not, the old value is taken to be a new link's
        (net/ipv4/conf/default), never today's flipped one."""
        out = []
        for name, value in (*WANT, LOOSE):
            try:
                now = self.runner.sysctl_read(key(iface, name))
                default = self.runner.sysctl_read(key(iface, name, "default"))
            except OSError:
                return []       # the interface is gone, and its settings with it
            if now == value and default != value:
                out.append([key(iface, name), default, value])
        return out

    def restore(self, recorded):
        for k, old, new in reversed(recorded):
            self._put_back(k, old, new)
        return []

    def _put_back(self, k, old, new):
        try:
            if self.runner.sysctl_read(k) == new and old != new:
                self.runner.sysctl_write(k, old)
        except OSError:
            pass        # the interface is gone, and its settings with it
