"""VRF devices and their slaves: ``table_`` there is refused.

A VRF already is a routing table per group of interfaces: the kernel's
l3mdev rule (priority 1000, ahead of every policyroute band) sends a
VRF's traffic to the VRF's own table. ``table_`` on a VRF slave or on the
VRF device would give the interface a second table that the VRF's own
traffic never consults, and rules ``from ADDR lookup TABLE`` that catch
traffic of the *default* VRF from the same address (VRFs may reuse
addresses) and send it out of the VRF's link: seen under user-mode-linux
(docs/kernel-tier.md), ``ip route get 198.51.100.1 from 192.0.2.16`` went
out of the VRF slave while 192.0.2.16 was also an address outside the VRF.
Routes for a VRF belong in its table (``routes_eth2="... table 10"``).

Pure: the caller passes what ``ip -json link show`` printed (every link,
or at least the interface and its master) and, since without
``-details`` a link does not say what kind it is, what ``ip -json vrf
show`` printed (names and tables; ``ip -json link show type vrf`` does
too, without the tables). With ``-details`` link data the second is
optional. Both queries run in one ``ip -batch``.
"""

from .errors import ConfigError


def vrf_tables(links, vrfs=()):
    """{VRF device name: its table number, or None when not told}, from
    vrfs (``vrf show`` or ``link show type vrf``) and -details links."""
    out = {}
    for link in links:
        info = link.get("linkinfo") or {}
        if info.get("info_kind") == "vrf":
            out[link["ifname"]] = (info.get("info_data") or {}).get("table")
    for v in vrfs:
        name = v.get("name") or v.get("ifname")
        if name and out.get(name) is None:
            out[name] = v.get("table")
    return out


def refusal(iface, ifvar, table, links, vrfs=()):
    """The ConfigError refusing ``table_<ifvar>`` for iface, or None.

    None as well when there is no table_ value or the link is not in
    ``links`` (not made yet: the caller checks again once it is).
    """
    if not table:
        return None
    link = next((x for x in links if x.get("ifname") == iface), None)
    if link is None:
        return None
    tables = vrf_tables(links, vrfs)
    if iface in tables:
        number = tables[iface]
        what = f"{iface} is a VRF device"
    elif link.get("master") in tables:
        number = tables[link["master"]]
        what = f"{iface} is enslaved to VRF {link['master']}"
    else:
        return None
    if number is not None:
        what += f" (table {number})"
    return ConfigError(
        f"table_{ifvar}", None, table,
        f"{what}: the VRF's l3mdev rule routes its traffic by the VRF's own table; "
        f"put its routes there (routes_{ifvar}=\"... table {number or 'VRF-TABLE'}\") "
        f"and drop table_{ifvar}")
