"""The three steps netifrc drives: pre-start, post-start and stop.

Each step: validate everything first, then observe, plan, apply (rolled
back on any failure), verify by reading the kernel back, and record.
"""

from collections import namedtuple

from . import failover, parse, plan, trial, vrf
from .errors import ConfigError, ConfigErrors, KernelError, PolicyRouteError, StateError
from .observe import observe
from .state import Record
from .tables import CannotRegister


# ------------------------------------------------------------ pre-start

def pre_start(cfg, paths, sibling_tables=()):
    """Validate the whole configuration and register table names.

    Runs before netifrc adds any address or route. Nothing is written
    unless every value is valid. Returns the table number (or None).
    """
    from .checks import ambiguous_tables
    registry = paths.registry()
    own = [cfg.table.name] if cfg.table and cfg.table.name else []
    _raise(plan.unknown_tables(cfg.rules, registry, set(own) | set(sibling_tables)))
    _raise(ambiguous_tables({cfg.ifvar: cfg}, registry))
    _raise(trial.refusals(cfg.rules))
    return register_tables(cfg, registry, sibling_tables)


def refuse_vrf(cfg, runner):
    """table_ on a VRF device or slave is a configuration error (vrf.py),
    found at post-start, before any rule: pre-start reads no kernel."""
    if cfg.table is None:
        return
    links, vrfs = runner.query(4, ["link show", "vrf show"])
    table = cfg.table.name or str(cfg.table.id)
    _raise([p for p in (vrf.refusal(cfg.iface, cfg.ifvar, table, links, vrfs),) if p])


def _raise(errors):
    if errors:
        raise ConfigErrors(errors)


def register_tables(cfg, registry, sibling_tables=()):
    """Write every table name iproute2 does not know yet (this interface's
    and its siblings') to rt_tables.d; this interface's table number."""
    own = [cfg.table.name] if cfg.table and cfg.table.name else []
    if own or sibling_tables:
        try:
            registry.register([*own, *sibling_tables])
        except OverflowError as e:
            raise ConfigError(cfg.table.origin.variable, None, cfg.table.name, str(e)) from None
        except CannotRegister as e:
            # A sibling's name its own start will report; this start needs
            # only its own.
            if own and own[0] in e.names:
                raise ConfigError(cfg.table.origin.variable, None, own[0],
                                  f"is not in rt_tables and cannot be registered: {e}") from None
    return table_id(cfg, registry)


def table_id(cfg, registry):
    """The table's number, or the one registering its name would give it
    (nothing is written)."""
    if cfg.table is None:
        return None
    if cfg.table.id is not None:
        return cfg.table.id
    return registry.preview(cfg.table.name)


# ------------------------------------------------------------ post-start

class Planned(namedtuple("Planned", "table_id previous observed want ops")):
    """What a start would do now: the inputs and the operations."""
    __slots__ = ()

    @property
    def mine(self):
        """Objects of this interface: wanted now, or recorded by the last start."""
        return self.want + (self.previous.objects if self.previous else [])


def compute(cfg, paths, runner, pending=(), registry=None):
    """Observe and plan one interface; changes nothing. ``pending``: table
    names a pre-start would register first."""
    registry = registry or paths.registry()
    if pending:
        registry = registry.previewed(pending)
    _raise(plan.unknown_tables(cfg.rules, registry))
    number = table_id(cfg, registry)
    store = paths.store()
    # The others' records say which shared rules (the guard) they still
    # want; one that cannot be read is its own start's problem.
    records = store.in_netns(cfg.netns, problems=[])
    previous = records.pop(cfg.iface, None) or store.load(cfg.iface, cfg.netns)
    observed = observe(runner, cfg.iface)
    want = plan.desired(cfg, number, registry, observed)
    planned = Planned(number, previous, observed, want, [])
    ops = plan.diff(want, observed.rule_keys + observed.route_keys, planned.mine,
                    kept=plan.others_objects(records, cfg.iface))
    return planned._replace(ops=ops)


def post_start(unit, paths, runner, sysctl, registry=None):
    """Bring the kernel to what the interface's values ask for; record it;
    make sure the namespace's follower runs (follower.py)."""
    from . import follower
    registry = registry or paths.registry()
    refuse_vrf(unit.cfg, runner)
    register_tables(unit.cfg, registry)         # when pre-start did not
    with paths.store().locked(unit.cfg.netns):
        ops = converge(unit, paths, runner, sysctl, registry)
    if unit.cfg.table is not None:
        follower.ensure(paths, unit.cfg.netns)
    return ops


def converge(unit, paths, runner, sysctl, registry=None):
    """The one reconcile: a start, a runtime event, a move and sync all
    bring one interface to its values this way. Caller holds the lock."""
    cfg = unit.cfg
    registry = registry or paths.registry()
    p = compute(cfg, paths, runner, registry=registry)
    store = paths.store()
    record = Record(cfg.iface, cfg.netns, p.table_id,
                    cfg.table.name if cfg.table else None, list(plan.unique(p.mine)),
                    p.previous.sysctls if p.previous else [], unit.inputs,
                    p.previous.moved if p.previous else [])
    before, done = list(record.sysctls), []
    planned = sysctl.planned(cfg, p.table_id, before)
    record.sysctls = before + [e for e in planned if e[0] not in {k for k, _o, _n in before}]
    store.save(record)              # intent first, sysctls too: a crash mid-apply is undoable
    try:
        done = apply(runner, p.ops)     # undoes its own part when refused
        record.sysctls = sysctl.apply(cfg, p.table_id, before, planned)
        if p.ops:
            verify(runner, cfg.iface, p.want)
    except (KernelError, StateError):
        rollback(runner, done)
        kept = {k for k, _old, _new in before}
        sysctl.restore([e for e in record.sysctls if e[0] not in kept])
        record.sysctls = before
        record.objects = p.previous.objects if p.previous else []
        record.inputs = p.previous.inputs if p.previous else {}
        _save_or_drop(store, record)
        raise
    record.objects = p.want
    _save_or_drop(store, record)
    return p.ops


def _save_or_drop(store, record):
    """Keep a record only while it lists something to undo, or values a
    runtime event must still follow."""
    if record.objects or record.sysctls or record.inputs or record.moved:
        store.save(record)
    else:
        store.remove(record.iface, record.netns)


def apply(runner, ops):
    """Run ops per family; on a refusal, undo this run's ops and re-raise."""
    done = []
    for family in (4, 6):
        step = [op for op in ops if op.obj.family == family]
        try:
            runner.batch(family, [op.obj.line(op.verb) for op in step])
        except KernelError as e:
            rollback(runner, done + step[:getattr(e, "applied", 0)])
            raise
        done += step
    return done


def rollback(runner, done):
    undo = [op.inverse() for op in reversed(done)]
    for family in (4, 6):
        runner.batch(family, [op.obj.line(op.verb) for op in undo if op.obj.family == family],
                     force=True)


def verify(runner, iface, want):
    """Read the kernel back: every object we want must be there."""
    seen = observe(runner, iface)
    have = set(seen.rule_keys + seen.route_keys)
    missing = [o for o in want if (o.family, o.key) not in have]
    if missing:
        raise StateError("after applying, the kernel lacks: "
                         + "; ".join(f"ip -{o.family} {o.line('add')}" for o in missing))


# ------------------------------------------------------------ stop

def stop(iface, netns, paths, runner, sysctl):
    """Remove exactly what the record says; a no-op without a record.

    During failover, addresses this interface borrowed go back to their
    owner first, and addresses it lent are removed where they are now, as
    netifrc's flush would have removed them here."""
    from . import follower
    store = paths.store()
    with store.locked(netns):
        record = store.load(iface, netns)
        if record is None:
            return []
        _settle_loans(record, paths, runner, sysctl)
        ops = _remove(record, paths, runner, sysctl)
    follower.release(paths, netns)
    return ops


def _remove(record, paths, runner, sysctl):
    store = paths.store()
    observed = observe(runner, record.iface, link_exists=False)
    record.objects = plan.unshared(record.objects, plan.others_objects(
        store.in_netns(record.netns, problems=[]), record.iface))
    ops = plan.removal(record.objects, observed.rule_keys + observed.route_keys)
    for family in (4, 6):
        runner.batch(family, [op.obj.line("del") for op in ops if op.obj.family == family],
                     force=True)
    sysctl.restore(record.sysctls)
    left = observe(runner, record.iface, link_exists=False)
    have = set(left.rule_keys + left.route_keys)
    stuck = [o for o in record.objects if (o.family, o.key) in have]
    if stuck:
        record.objects, record.sysctls = stuck, []
        store.save(record)
        raise StateError("could not remove: " + "; ".join(
            f"ip -{o.family} {o.line('del')}" for o in stuck))
    store.remove(record.iface, record.netns)
    return ops


def _settle_loans(record, paths, runner, sysctl):
    store = paths.store()
    records = store.in_netns(record.netns)
    borrowed = failover.hand_back(record.iface, records)
    if not borrowed and not record.moved:
        return                              # the usual stop: no loans either way
    links = read_links(runner)
    here = links.get(record.iface)
    for cidr, owner in borrowed:
        addr = here.find(cidr) if here else None
        if addr is not None and owner in links:
            move_address(runner, failover.Move(addr, record.iface, owner, owner))
        records[owner].moved = [m for m in records[owner].moved if m[0] != cidr]
        store.save(records[owner])
        _converge_record(records[owner], paths, runner, sysctl)
    for cidr, to in record.moved:
        addr = links[to].find(cidr) if to in links else None
        if addr is not None:
            runner.batch(addr.family, [f"address del {cidr} dev {to}"], force=True)
        if to in records:
            _converge_record(records[to], paths, runner, sysctl)
    if record.moved:
        record.moved = []
        store.save(record)


# ------------------------------------------------------------ runtime

def read_links(runner):
    """{name: failover.Link}: carrier and global addresses of every link."""
    links, addrs4 = runner.query(4, ["link show", "addr show"])
    addrs6, = runner.query(6, ["addr show"])
    return failover.links_of(links, [(4, addrs4), (6, addrs6)])


def move_address(runner, move):
    """Add the address at dst, then delete it at src: never a moment
    without it. IPv6 skips DAD: the address is ours and still answers at
    src until the delete."""
    a = move.addr
    add = f"address add {a.cidr} dev {move.dst}" + (" broadcast +" if a.family == 4 else " nodad")
    try:
        runner.batch(a.family, [add, f"address del {a.cidr} dev {move.src}"])
    except KernelError as e:
        if getattr(e, "applied", 0) >= 1:
            runner.batch(a.family, [f"address del {a.cidr} dev {move.dst}"], force=True)
        raise


def _converge_record(record, paths, runner, sysctl):
    converge(parse.parse_unit(record.iface, record.inputs, record.netns), paths, runner, sysctl)


def settle(paths, runner, sysctl, netns=None, names=None, announce=None):
    """One pass of the follower over a namespace: failover moves, then a
    converge of ``names`` (None: every managed interface) and of every
    interface a move touched. Returns the problems met, one line each; one
    interface's problem never stops the others."""
    store = paths.store()
    problems, moves = [], []
    with store.locked(netns):
        records = store.followed(netns, problems)
        units = {}
        for name, record in records.items():
            try:
                units[name] = parse.parse_unit(name, record.inputs, netns)
            except ConfigErrors as e:
                problems.append(f"{name}: recorded values: {e}")
        links = read_links(runner)
        moves, moved = failover.plan(units, records, links)
        for name, lent in moved.items():
            if lent != records[name].moved:
                records[name].moved = lent
                store.save(records[name])
        done = []
        for move in moves:
            try:
                move_address(runner, move)
                done.append(move)
            except KernelError as e:
                problems.append(f"{move.addr.cidr} {move.src} -> {move.dst}: {e}")
                continue
            problems += _announce(move.dst, move.addr, announce)
        todo = set(units) if names is None else set(names) & set(units)
        todo |= {n for m in done for n in (m.src, m.dst) if n in units}
        # Where addresses arrive first, then where they left: rules exist
        # at the new table before they leave the old one.
        arrived = {m.dst for m in done}
        for name in sorted(todo, key=lambda n: (n not in arrived, n)):
            if name not in links:
                continue
            try:
                converge(units[name], paths, runner, sysctl)
            except PolicyRouteError as e:
                problems.append(f"{name}: {e}")
    return problems


def _announce(iface, addr, announce=None):
    """Tell the neighbours at once, before the rules follow: incoming
    traffic is what a dead link loses first. Problems, as lines."""
    try:
        (announce or announcer)(iface, addr.family, addr.local)
    except OSError as e:
        return [f"announce {addr.local} on {iface}: {e.strerror or e}"]
    return []


def announcer(iface, family, address):
    from .announce import send          # off the start path
    send(iface, family, address)


def move(paths, runner, sysctl, cidr, to, netns=None, announce=None):
    """``policyroute move ADDR/PLEN --to IFACE``: the address, its rules
    and the neighbours' caches, as one step. A move by hand ends any
    failover loan of the address."""
    store = paths.store()
    with store.locked(netns):
        records = store.followed(netns)
        if to not in records:
            raise ConfigError("--to", None, to, "is not an interface policyroute manages "
                              "(no table_, or not started)")
        links = read_links(runner)
        found = [(name, link.find(cidr)) for name, link in links.items() if link.find(cidr)]
        if not found:
            raise ConfigError("ADDR", None, cidr, "is not an address of any interface here")
        src, addr = found[0]
        if src == to:
            raise ConfigError("--to", None, to, f"has {cidr} already")
        for owner, record in records.items():
            if any(m[0] == cidr for m in record.moved):
                record.moved = [m for m in record.moved if m[0] != cidr]
                store.save(record)
        move_address(runner, failover.Move(addr, src, to, None))
        problems = _announce(to, addr, announce)
        _converge_record(records[to], paths, runner, sysctl)
        if src in records:
            _converge_record(records[src], paths, runner, sysctl)
    if problems:
        raise StateError(problems[0])
    return src


def slot_warnings(cfg, paths, registry):
    """checks.slot_collisions between this interface and the others that
    are started in its namespace, as warning lines."""
    from .checks import slot_collisions
    others = {}
    for _path, record in paths.store().all():
        if record.iface != cfg.iface and record.netns == cfg.netns and record.inputs:
            try:
                other = parse.parse_unit(record.iface, record.inputs, record.netns).cfg
            except ConfigErrors:
                continue            # a start of that interface says why
            others[other.ifvar] = other
    # This interface comes last, so a slot it shares is reported on it.
    return [e.message() for e in slot_collisions({**others, cfg.ifvar: cfg}, registry)
            if e.variable == f"table_{cfg.ifvar}"]
