"""Reading a boot's blocks: pings, counters, ARP answers, rule sets."""

from __future__ import annotations

import re

from .uml import Boot, Block

TTL = re.compile(r"\bttl=(\d+)\b")
REPLY = re.compile(r"reply from (\S+) \[([0-9a-fA-F:]+)\]")
RECEIVED = re.compile(r"(\d+) packets received")


def ping(block: Block) -> tuple[int, list[int]]:
    """(replies received, TTL of each reply) of a busybox ping block."""
    m = RECEIVED.search(block.text)
    return (int(m.group(1)) if m else 0), [int(t) for t in TTL.findall(block.text)]


def counters(block: Block) -> dict[str, int]:
    """kt_tx's "LINK COUNT" lines."""
    return {line.split()[0]: int(line.split()[1]) for line in block.lines()}


def sent(boot: Boot, prefix: str) -> dict[str, int]:
    """Packets each link sent between PREFIX-tx0 and PREFIX-tx1."""
    before = counters(boot.block(f"{prefix}-tx0"))
    after = counters(boot.block(f"{prefix}-tx1"))
    return {link: after[link] - before[link] for link in before}


def arp(block: Block) -> dict[tuple[str, str, str], set[str]]:
    """seed_arp's answers: (gateway, port, target) -> MACs that replied."""
    out, key = {}, None
    for line in block.lines():
        if line.startswith("? "):
            key = tuple(line.split()[1:4])
            out[key] = set()
        elif (m := REPLY.search(line)) and key is not None:
            out[key].add(m.group(2).lower())
    return out


def table(block: Block) -> dict[tuple[str, str], str]:
    """Blocks of "A B VALUE" lines: (A, B) -> VALUE."""
    return {tuple(line.split()[:2]): line.split()[2] for line in block.lines()}


def state(block: Block) -> dict[str, list]:
    """kt_state: rules and proto-201 routes of each family."""
    rules4, rules6, routes4, routes6 = block.docs()
    return {"rules4": rules4, "rules6": rules6, "routes4": routes4, "routes6": routes6}


def rule_set(rules: list[dict]) -> set[tuple]:
    """Rules as comparable tuples (every field)."""
    return {tuple(sorted((k, str(v)) for k, v in r.items())) for r in rules}


def ours(rules: list[dict]) -> list[dict]:
    return [r for r in rules if r.get("protocol") == "201"]


def links(block: Block) -> dict[str, dict]:
    return {link["ifname"]: link for link in block.json()}


def addresses(block: Block) -> dict[str, set[str]]:
    """ip -json addr show: link -> its addresses (no prefix)."""
    return {link["ifname"]: {a["local"] for a in link.get("addr_info", [])}
            for link in block.json()}


def registered(block: Block) -> dict[str, int]:
    """rt_tables.d/policyroute.conf: name -> number."""
    out = {}
    for line in block.lines():
        words = line.split()
        if len(words) == 2 and words[0].isdigit():
            out[words[1]] = int(words[0])
    return out
