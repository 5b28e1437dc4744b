"""move: move an address to another managed interface as one step: the
address, its rules (now to the new interface's table), and a gratuitous
ARP or unsolicited neighbour advertisement for the neighbours."""

import ipaddress

from .. import engine
from ..errors import UsageError
from ..kernel import in_netns


def add_arguments(p):
    p.add_argument("address", metavar="ADDR/PLEN", help="the address, with its prefix length")
    p.add_argument("--to", required=True, metavar="IFACE", help="the managed interface to move it to")
    p.add_argument("--netns", help="the network namespace both interfaces are in")


def run(args, ctx):
    try:
        cidr = str(ipaddress.ip_interface(args.address))
    except ValueError:
        raise UsageError(f"move: '{args.address}' is not ADDR/PLEN") from None
    if "/" not in args.address:
        raise UsageError(f"move: '{args.address}' needs its prefix length (ADDR/PLEN)")
    with in_netns(args.netns):
        src = engine.move(ctx.paths, ctx.runner, ctx.sysctl, cidr, args.to, args.netns or None)
    print(f"{cidr}: {src} -> {args.to}")
    return 0
