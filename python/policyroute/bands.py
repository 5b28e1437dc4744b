"""Every number policyroute puts into the kernel comes from here.

Priorities (``ip rule`` preference) are laid out in bands so that a user's
own rule with an explicit priority below 10000 always runs first, and the
automatic rules run after every ``rules_`` line of every interface:

    1-9999        free for ``rules_`` lines that give ``priority`` themselves
    10000-14095   ``rules_`` lines without ``priority``: 10000 + slot*16 + line
    20000-20255   stage 1, ``from SOURCE lookup TABLE suppress_prefixlength 0``;
                  with the guard off, the one rule ``from SOURCE lookup TABLE``
    21000         the guard, ``lookup main suppress_prefixlength 0``: one rule
                  per family, shared by every interface with the guard on
    22000-22255   stage 3, ``from SOURCE lookup TABLE``
    32766, 32767  the kernel's ``main`` and ``default`` rules

SOURCE is a prefix covering addresses of the interface and nothing else
(plan.source_prefixes). The guard is the same lookup for every source, so
one rule does it for all; a guard-off interface's rule comes before it, so
its table still wins over main. 21001-21255 stay in the automatic band:
older versions put one guard rule per address there.

An interface's *slot* is its table number modulo 256, so the same
configuration gives the same priorities whatever order interfaces start in.
"""

# Marks every rule and route we add; named "policyroute" by the rt_protos.d
# file packaging/rt_protos.conf installs.
PROTO = 201
PROTO_NAME = "policyroute"

# Table numbers handed to names iproute2 does not know yet.
TABLE_FIRST = 1024
TABLE_LAST = 1279

# Tables that belong to the kernel or iproute2 and are never ours.
RESERVED_TABLES = {"unspec": 0, "default": 253, "main": 254, "local": 255}
TABLE_MAX = 2**32 - 1

SLOTS = 256
USER_BASE = 10000
USER_LINES = 16          # automatically numbered rules_ lines per interface
USER_LAST = USER_BASE + SLOTS * USER_LINES - 1
STAGE_TABLE_SPECIFIC = 20000
STAGE_MAIN_SPECIFIC = 21000   # the shared guard; 21000-21255 was one per slot
STAGE_TABLE = 22000
AUTO_FIRST = STAGE_TABLE_SPECIFIC
AUTO_LAST = STAGE_TABLE + SLOTS - 1

PRIORITY_MIN = 1         # 0 is the kernel's "lookup local" rule
PRIORITY_MAX = 32765     # 32766 is "lookup main": later rules never see traffic


def slot(table_id):
    return table_id % SLOTS


def user_priority(table_id, index):
    return USER_BASE + slot(table_id) * USER_LINES + index


def auto_priorities(table_id, guard):
    """(stage-1, guard, stage-3) priorities, None for stages not used. The
    guard's priority is the same for every table: one rule serves all.
    With the guard off the one rule takes stage 1's place, before the
    shared guard, so main's more specific routes never win over it."""
    s = slot(table_id)
    if not guard:
        return (None, None, STAGE_TABLE_SPECIFIC + s)
    return (STAGE_TABLE_SPECIFIC + s, STAGE_MAIN_SPECIFIC, STAGE_TABLE + s)


def in_auto_band(priority):
    return AUTO_FIRST <= priority <= AUTO_LAST
