"""One module per subcommand; each has add_parser(sub, name) and run(args, ctx)."""

from . import down, post_start, pre_start, stop, up

COMMANDS = {
    "pre-start": pre_start,
    "post-start": post_start,
    "stop": stop,
    "up": up,
    "down": down,
}
