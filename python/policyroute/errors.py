"""Typed errors. cli.py is the only place that turns them into a message and
an exit code; every other module raises."""

EXIT_CONFIG = 1      # bad configuration: nothing was changed
EXIT_USAGE = 2       # bad command line
EXIT_KERNEL = 3      # the kernel refused a change: this run's changes undone
EXIT_STATE = 4       # the record or the kernel disagree with what we expect
EXIT_DRIFT = 5       # show: the kernel differs from what it should have
TOKEN_SHOWN = 80     # characters of a bad word an error line shows


class PolicyRouteError(Exception):
    exit_code = EXIT_STATE

    def lines(self):
        return [str(self)]


class ConfigError(PolicyRouteError):
    """One bad value: names the variable, the line and the token."""
    exit_code = EXIT_CONFIG

    def __init__(self, variable, line, token, reason):
        self.variable, self.line, self.token, self.reason = variable, line, token, reason
        super().__init__(self.message())

    def message(self):
        where = self.variable if self.line is None else f"{self.variable} line {self.line}"
        token = self.token
        if token is not None and len(token) > TOKEN_SHOWN:
            # a 140 kB word would not fit eerror's command line at boot
            token = f"{token[:TOKEN_SHOWN]}...({len(token)} characters)"
        tok = f" '{token}'" if token is not None else ""
        return f"{where}:{tok} {self.reason}"


class ConfigErrors(PolicyRouteError):
    """Every problem found in one configuration, reported together."""
    exit_code = EXIT_CONFIG

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(e.message() for e in self.errors))

    def lines(self):
        return [e.message() for e in self.errors]


class KernelError(PolicyRouteError):
    """iproute2 refused a command; message is iproute2's own words."""
    exit_code = EXIT_KERNEL

    def __init__(self, command, stderr):
        self.command, self.stderr = command, stderr.strip()
        super().__init__(f"ip {command}: {self.stderr}" if command else self.stderr)


class StateError(PolicyRouteError):
    exit_code = EXIT_STATE


class UsageError(PolicyRouteError):
    exit_code = EXIT_USAGE
