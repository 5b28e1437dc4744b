"""down: by hand, what the netifrc module's stop does. Works from the record
alone: the configuration may have changed since the start."""

import os

from ..confd import read_config
from ..parse import shell_var
from . import stop
from .common import add_config


def add_arguments(p):
    add_config(p)


def run(args, ctx):
    variables = read_config(args.config) if os.path.exists(args.config) else {}
    args.netns = variables.get(f"netns_{shell_var(args.iface)}") or None
    return stop.run(args, ctx)
