"""Where policyroute reads and writes: every path can be pointed
elsewhere, so tests never touch the host's /etc or /run."""

import os
from collections import namedtuple

from .state import Store
from .tables import Registry

STATE_DIR = "/run/policyroute"
IPROUTE2_DIR = "/etc/iproute2"
IPROUTE2_DATA_DIRS = ("/usr/share/iproute2", "/usr/lib/iproute2")


class Paths(namedtuple("Paths", "state_dir iproute2_dir data_dirs",
                       defaults=(STATE_DIR, IPROUTE2_DIR, IPROUTE2_DATA_DIRS))):
    """Every place policyroute reads or writes; all redirectable for tests."""
    __slots__ = ()

    @classmethod
    def from_env(cls, **overrides):
        env = os.environ
        values = dict(
            state_dir=env.get("POLICYROUTE_STATE_DIR", STATE_DIR),
            iproute2_dir=env.get("POLICYROUTE_IPROUTE2_DIR", IPROUTE2_DIR),
            data_dirs=tuple(filter(None, env.get("POLICYROUTE_IPROUTE2_DATA_DIRS",
                                                 ":".join(IPROUTE2_DATA_DIRS)).split(":"))))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def registry(self):
        return Registry(self.iproute2_dir, self.data_dirs, lock_dir=self.state_dir)

    def store(self):
        return Store(self.state_dir)
