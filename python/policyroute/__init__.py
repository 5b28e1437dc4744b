"""Source-based policy routing for netifrc: one table per interface and a
rule for every address on it, brought up and down with the interface."""

__version__ = "0.1.0"
