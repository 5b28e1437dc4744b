"""Source-based policy routing for netifrc: one table per interface and a
rule for every address on it, brought up and down with the interface."""

__version__ = "0.1.0"


def site_packages():
    """Make site-packages importable (pyroute2) when Python was started
    without site (the installed helper runs ``python3 -IS``)."""
    import sys
    if sys.flags.no_site:
        import site
        site.main()
