"""follow: keep one namespace's managed interfaces right at runtime.
post-start starts it and the last stop ends it (see follower.py); by hand
it runs in the foreground, for debugging."""

import os

from .. import follower
from ..kernel import NETNS_RUN_DIR, in_netns


def add_arguments(p):
    p.add_argument("--netns", help="the network namespace to follow (default: the host's)")
    p.add_argument("--worker", action="store_true", help="(internal) the supervised process")


def run(args, ctx):
    netns = args.netns or None
    if not args.worker:
        return follower.supervise(ctx.paths, netns)
    if netns and not os.path.exists(os.path.join(NETNS_RUN_DIR, netns)):
        follower.log(f"netns {netns} does not exist: nothing to follow")
        return 0
    with in_netns(netns):
        return follower.work(ctx.paths, ctx.runner, ctx.sysctl, netns)
