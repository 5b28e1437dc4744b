"""The three steps netifrc drives: pre-start, post-start and stop.

Each step: validate everything first, then observe, plan, apply (rolled
back on any failure), verify by reading the kernel back, and record.
"""

import sys
from collections import Counter, namedtuple

from . import bands, failover, parse, plan, trial, vrf
from .errors import ConfigError, ConfigErrors, KernelError, PolicyRouteError, StateError
from .observe import observe
from .plan import Obj
from .state import Record
from .sysctl import Sysctl
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


def refuse_vrf(cfg):
    """table_ on a VRF device or slave is a configuration error (vrf.py),
    found on the first read of the kernel, before any rule (a held start's
    first step, else post-start; pre-start's checks read no kernel). The
    check observe and observe_all run on the links and VRFs of that read
    (one ``ip`` per family), or None when there is no table_."""
    if cfg.table is None:
        return None
    table = cfg.table.name or str(cfg.table.id)

    def refuse(links, vrfs):
        _raise([p for p in (vrf.refusal(cfg.iface, cfg.ifvar, table, links, vrfs),) if p])
    return refuse


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


def compute(cfg, paths, runner, pending=(), registry=None, set_aside=False, refuse=None,
            observed=None):
    """Observe and plan one interface; changes nothing. ``pending``: table
    names a pre-start would register first; ``refuse``: refuse_vrf's check;
    ``observed``: the kernel as a pass has just read it (else read here)."""
    registry = registry or paths.registry()
    if pending:
        registry = registry.previewed(pending)
    _raise(plan.unknown_tables(cfg.rules, registry))
    number = table_id(cfg, registry)
    if observed is None:
        observed = observe(runner, cfg.iface, refuse=refuse)
    want = plan.desired(cfg, number, registry, observed)
    # What the last start recorded and is wanted again is one object, not
    # two (at 10,000 addresses 20,000 rules: ~6 MiB).
    previous = previous_record(cfg.iface, cfg.netns, paths, runner, observed, set_aside,
                               same={o: o for o in want})
    # The others' records say which shared rules (the guard) they still
    # want; one that cannot be read is its own start's problem.
    records = paths.store().in_netns(cfg.netns, problems=[], but=cfg.iface)
    planned = Planned(number, previous, observed, want, [])
    ops = plan.diff(want, observed.rule_keys + observed.route_keys, planned.mine,
                    kept=plan.others_objects(records, cfg.iface))
    return planned._replace(ops=ops)


def post_start(unit, paths, runner, sysctl, registry=None):
    """Bring the kernel to what the interface's values ask for; record it;
    make sure the namespace's follower runs (follower.py)."""
    from . import follower
    registry = registry or paths.registry()
    register_tables(unit.cfg, registry)         # when pre-start did not
    with paths.store().locked(unit.cfg.netns):
        ops = converge(unit, paths, runner, sysctl, registry, refuse_vrf(unit.cfg))
    if unit.cfg.table is not None:
        follower.ensure(paths, unit.cfg.netns)
    return ops


def add_source_rules(unit, paths, runner, registry=None):
    """A held start (commands/hold.py), after pre-start, before netifrc
    adds the addresses: the automatic rules of config_'s static addresses
    (and of those the interface has already) go in now, while the
    namespace has none of their routes. Each IPv6 rule change makes the
    kernel walk every IPv6 route (fib6_flush_trees): beside 10,000
    addresses 20,000 changes take ~15 s, before them well under one.

    Adds only, of rules only: the table is still empty, so a lookup there
    finds nothing and goes on (and the rules go in the kernel's fastest
    order, plan.highest_priority_first), and the rules decide nothing until
    post-start's converge adds the routes, plans from the addresses the
    interface really has and deletes what is not wanted. Addresses
    another link has are left out; a table_ on a VRF is refused first,
    as post-start would. Until then the record lists these rules
    too (so a stop removes them) and says "starting" (so the follower
    leaves the interface alone); the ops, or [] without a table."""
    from .observe import observe_all, of_link, rules_now, watch_rules
    cfg = unit.cfg
    if cfg.table is None:
        return []
    registry = registry or paths.registry()
    store = paths.store()
    with store.locked(cfg.netns):
        watch_rules()
        _links, addrs, seen = observe_all(runner, refuse_vrf(cfg))
        here = of_link(seen, addrs, cfg.iface)
        number = table_id(cfg, registry)
        want = plan.source_rules(cfg, number, _expected(unit, here, addrs))
        ops = plan.diff(want, here.rule_keys, ())
        if not ops:
            rules_now(here.rule_keys, 0)
            return []
        previous = previous_record(cfg.iface, cfg.netns, paths, runner, here, set_aside=True)
        record = previous.copy() if previous else Record(cfg.iface, cfg.netns)
        record.table, record.table_name = number, cfg.table.name
        record.objects = list(plan.unique(record.objects + want))
        record.inputs, record.phase = unit.inputs, "starting"
        store.save(record)
        try:
            apply(runner, plan.highest_priority_first(ops))
        except KernelError:
            if previous:
                store.save(previous)
            else:
                store.remove(cfg.iface, cfg.netns)
            raise
        rules_now(here.rule_keys + tuple((op.obj.family, op.obj.key) for op in ops), len(ops))
    return ops


def _expected(unit, here, addrs):
    """The addresses the interface has (``here``, of_link's) and those
    config_ gives, less any another link has (observe_all's ``addrs``)."""
    from .observe import addresses_of
    iface = unit.cfg.iface
    taken = {a.local for family, links in addrs.items()
             for a in addresses_of([k for k in links if k.get("ifname") != iface], family)}
    configured = [plan.Address(*a) for a in parse.static_addresses(unit.inputs.get("configured"))]
    return [a for a in list(here.addresses) + configured if a.local not in taken]


def converge(unit, paths, runner, sysctl, registry=None, refuse=None, observed=None):
    """The one reconcile: a start, a runtime event, a move and sync all
    bring one interface to its values this way. Caller holds the lock;
    ``observed``: the kernel as the caller read it under that lock, with
    nothing changed since (see compute)."""
    cfg = unit.cfg
    registry = registry or paths.registry()
    p = compute(cfg, paths, runner, registry=registry, set_aside=True, refuse=refuse,
                observed=observed)
    observed = None
    store = paths.store()
    record = Record(cfg.iface, cfg.netns, p.table_id,
                    cfg.table.name if cfg.table else None, list(plan.unique(p.mine)),
                    p.previous.sysctls if p.previous else [], unit.inputs,
                    p.previous.moved if p.previous else [])
    p = p._replace(observed=None)   # let the first read go before verify's (10,000 addresses)
    before, done = list(record.sysctls), []
    planned = sysctl.planned(cfg, p.table_id, before)
    record.sysctls = before + [e for e in planned if e[0] not in {k for k, _o, _n in before}]
    store.save(record)              # intent first, sysctls too: a crash mid-apply is undoable
    intent = (record.objects, record.sysctls)
    try:
        done = apply(runner, p.ops)     # undoes its own part when refused
        record.sysctls = sysctl.apply(cfg, p.table_id, before, planned)
        if p.ops:
            verify(runner, cfg.iface, p.want, {op.obj.family for op in p.ops},
                   {op.obj.kind for op in p.ops})
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
    if (record.objects, record.sysctls) != intent or not _worth_keeping(record):
        _save_or_drop(store, record)    # else the intent, as saved, is the outcome
    return p.ops


def _save_or_drop(store, record):
    if _worth_keeping(record):
        store.save(record)
    else:
        store.remove(record.iface, record.netns)


def _worth_keeping(record):
    """A record lists something to undo, or values a runtime event must
    still follow."""
    return bool(record.objects or record.sysctls or record.inputs or record.moved)


def apply(runner, ops):
    """Run ops per family; on a refusal, undo this run's ops and re-raise."""
    done = []
    for family in (4, 6):
        step = [op for op in ops if op.obj.family == family]
        try:
            runner.batch(family, [op.obj.line(op.verb) for op in step])
        except KernelError as e:
            rollback(runner, done + [step[i] for i in getattr(e, "done", ())])
            raise
        done += step
    return done


def rollback(runner, done):
    undo = [op.inverse() for op in reversed(done)]
    for family in (4, 6):
        runner.batch(family, [op.obj.line(op.verb) for op in undo if op.obj.family == family],
                     force=True)


def verify(runner, iface, want, families=(4, 6), kinds=("rule", "route")):
    """Read the kernel back: every object we want must be there, and every
    rule once (rules are added without NLM_F_EXCL: a rule the plan did not
    see in the kernel would be there twice). ``families``, ``kinds``:
    those the ops touched; of another, the plan has just seen every wanted
    object there (it would have added it) and added nothing that could be
    there twice."""
    seen = observe(runner, iface, link_exists=False, families=families, rules="rule" in kinds)
    count = Counter(seen.rule_keys)
    count.update(seen.route_keys)
    del seen
    want = [o for o in want if o.family in families and o.kind in kinds]
    missing = [o for o in want if (o.family, o.key) not in count]
    if missing:
        raise StateError("after applying, the kernel lacks: "
                         + "; ".join(f"ip -{o.family} {o.line('add')}" for o in missing))
    twice = [o for o in plan.unique(want) if o.kind == "rule" and count[(o.family, o.key)] > 1]
    if twice:
        raise StateError("after applying, the kernel has more than once: "
                         + "; ".join(f"ip -{o.family} {o.line('add')}" for o in twice))


# ------------------------------------------------------------ stop

def stop_begin(iface, netns, paths, runner, sysctl):
    """A held stop (commands/hold.py), before netifrc flushes the
    addresses: what this interface borrowed goes back to its owner, what it
    lent leaves the interface that has it, while the addresses are still
    there; and the record says "stopping", so the follower leaves the
    interface alone while the flush takes its addresses. The rules and
    routes go after the flush (stop), when an IPv6 rule change no longer
    walks a route for every address."""
    store = paths.store()
    with store.locked(netns):
        record = previous_record(iface, netns, paths, runner, set_aside=True, look=False)
        if record is None:
            return
        _settle_loans(record, paths, runner, sysctl)
        record.phase = "stopping"
        store.save(record)


def stop(iface, netns, paths, runner, sysctl, force=False):
    """Remove what the record says and what the kernel shows of the start
    (recovery below); without a usable record, the latter alone; a no-op
    when there is neither. ``force`` (down --force): without recorded
    sysctls, put back what guessed_sysctls() finds.

    During failover, addresses this interface borrowed go back to their
    owner first, and addresses it lent are removed where they are now, as
    netifrc's flush would have removed them here."""
    from . import follower
    store = paths.store()
    with store.locked(netns):
        record = previous_record(iface, netns, paths, runner, set_aside=True)
        if record is None and force:
            record = Record(iface, netns)
        if record is None:
            return []
        if force:
            record.sysctls = record.sysctls or guessed_sysctls(iface, runner)
        _settle_loans(record, paths, runner, sysctl)
        ops = _remove(record, paths, runner, sysctl)
    follower.release(paths, netns)
    return ops


def _remove(record, paths, runner, sysctl):
    """The record's objects and, should it have lost some, the tagged ones
    found() sees for the interface."""
    store = paths.store()
    observed = observe(runner, "", link_exists=False)
    record.objects = plan.unshared(record.objects, plan.others_objects(
        store.in_netns(record.netns, problems=[], but=record.iface), record.iface))
    lost = _found_alone(record.iface, record.netns, store, observed, record.objects)
    ops, stuck = _delete(plan.unique(record.objects) + lost, record.sysctls, runner, sysctl,
                         observed)
    if stuck:
        record.objects, record.sysctls = stuck, []
        store.save(record)
        raise _stuck(stuck)
    store.remove(record.iface, record.netns)
    return ops


def _delete(objects, sysctls, runner, sysctl, observed):
    """Delete what of ``objects`` the kernel has (``observed``), put
    ``sysctls`` back; (ops run, objects the kernel still has after)."""
    ops = plan.removal(objects, observed.rule_keys + observed.route_keys)
    for family in (4, 6):
        runner.batch(family, [op.obj.line("del") for op in ops if op.obj.family == family],
                     force=True)
    sysctl.restore(sysctls)
    # A family without deletions had none of the objects to begin with.
    left = observe(runner, "", link_exists=False, families={op.obj.family for op in ops})
    have = set(left.rule_keys + left.route_keys)
    return ops, [o for o in objects if (o.family, o.key) in have]


def _stuck(objects):
    return StateError("could not remove: " + "; ".join(
        f"ip -{o.family} {o.line('del')}" for o in objects))


def stop_all(netns, paths, runner, sysctl):
    """down --force --all: every rule and route carrying protocol 201 in
    the namespace, whatever table, and whatever the records list; every
    recorded sysctl back (guessed where a record is lost); no record left."""
    from . import follower
    store = paths.store()
    with store.locked(netns):
        records = {}
        for name in store.names(netns):
            record = previous_record(name, netns, paths, runner, set_aside=True, look=False)
            if record is not None:
                records[name] = record
        observed = observe(runner, "", link_exists=False)
        objects = tagged(observed) + [o for r in records.values() for o in r.objects]
        sysctls = [s for r in records.values() for s in r.sysctls]
        for dev in sorted(_devices(observed) - set(records)):
            sysctls += guessed_sysctls(dev, runner)
        ops, stuck = _delete(plan.unique(objects), sysctls, runner, sysctl, observed)
        if stuck:
            raise _stuck(stuck)
        for name in records:
            store.remove(name, netns)
    follower.release(paths, netns)
    return ops


def _settle_loans(record, paths, runner, sysctl):
    store = paths.store()
    # another's bad record never blocks this stop; its own is in hand
    records = store.in_netns(record.netns, [], but=record.iface)
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
    from .observe import observe_all, of_link
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
        links_shown, addrs, seen = observe_all(runner)
        links = failover.links_of(links_shown, list(addrs.items()))
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
        # The first read stands for the kernel until something changes it:
        # a move (tried), or a converge that ran ops.
        fresh = not moves
        for name in sorted(todo, key=lambda n: (n not in arrived, n)):
            if name not in links:
                continue
            observed = of_link(seen, addrs, name) if fresh else None
            fresh = False
            try:
                ops = converge(units[name], paths, runner, sysctl, observed=observed)
                fresh = observed is not None and not ops
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


# ------------------------------------------------------------ recovery
#
# A record lost (/run wiped) or unusable (corrupted, edited) must never
# leak what it listed nor block later starts. Every rule and route we add
# carries protocol 201 (bands.PROTO), so what the kernel shows is enough
# to find one interface's objects again: the tables of its tagged routes
# (dev IFACE), the tagged rules that look them up (automatic or rules_
# lines), the guard (shared, or of the same sources), and the tagged rules_
# lines in its tables' slot of the user band. Other rules_ lines with a
# priority of their own, with their own protocol, or of an interface
# without a table, can only be found by down --force --all.

def previous_record(iface, netns, paths, runner, observed=None, set_aside=False, look=True,
                    same=None):
    """The record of the last start; without a usable one, a record of
    what the kernel shows of it (found(), guessed_sysctls()); None when
    there is no sign of an earlier start. ``set_aside``: move an unusable
    record to IFACE.json.bad (else only warn: plan and show change
    nothing). ``observed``: the kernel, read here if None; ``look``
    False: do not look for objects at all; ``same``: Store.load's."""
    store = paths.store()
    try:
        record = store.load(iface, netns, same)
        if record is not None:
            return record
        lost = None
    except StateError as e:
        lost = str(e) + (f"; set aside as {store.set_aside(iface, netns)}" if set_aside else "")
    if not look:
        if lost:
            warn(lost)
        return None
    objects = _found_alone(iface, netns, store, observed or observe(runner, iface, False))
    if objects or lost:
        warn(f"{lost or iface + ': no record'}; {len(objects)} rules and routes of it "
             f"found by protocol {bands.PROTO}")
    if not objects:
        return None
    tables = {dict(o.key).get("table") for o in objects if o.kind == "route"}
    return Record(iface, netns, int(tables.pop()) if len(tables) == 1 else None, None,
                  objects, guessed_sysctls(iface, runner))


def _found_alone(iface, netns, store, observed, known=()):
    """found(), but ``known`` objects and what another interface's record
    lists (the records are read only when something is left)."""
    objects = plan.unshared(found(iface, observed), known)
    if objects:
        objects = plan.unshared(objects, plan.others_objects(
            store.in_netns(netns, [], but=iface), iface))
    return objects


def found(iface, observed):
    """This interface's objects in the kernel, by their tag (see above)."""
    proto = ("protocol", str(bands.PROTO))
    reserved = {str(n) for n in bands.RESERVED_TABLES.values()}     # never ours: main...
    routes = [(f, k) for f, k in observed.route_keys if proto in k and ("dev", iface) in k
              and dict(k)["table"] not in reserved]
    tables = {dict(k)["table"] for _f, k in routes}
    slots = {bands.slot(int(t)) for t in tables}
    lookups = {f"lookup {t}" for t in tables}
    # One rule's fields as a dict at a time: at 20,000 rules, a dict each
    # held side by side was ~7 MiB.
    rules, sources, guards = [], set(), []
    for f, k in observed.rule_keys:
        if proto not in k:
            continue
        d = dict(k)
        priority = int(d["priority"])
        if d.get("action") in lookups:
            rules.append((f, k))
            if bands.in_auto_band(priority):
                sources.add((f, d.get("from")))
        elif bands.USER_BASE <= priority <= bands.USER_LAST and \
                (priority - bands.USER_BASE) // bands.USER_LINES in slots:
            rules.append((f, k))
        elif bands.in_auto_band(priority) and d.get("action") == "lookup 254" \
                and d.get("suppress_prefixlength") == "0":
            guards.append((f, k, d.get("from")))
    # The guard: the shared one (no from) of a family it had sources in,
    # or one per source (the layout before the shared guard). What another
    # record lists stays (_found_alone).
    families = {f for f, _src in sources}
    rules += [(f, k) for f, k, src in guards
              if (f, src) in sources or (src is None and f in families)]
    return [obj_of_key(kind, f, k) for kind, keys in (("rule", rules), ("route", routes))
            for f, k in keys]


def tagged(observed):
    """Every rule and route carrying protocol 201."""
    proto = ("protocol", str(bands.PROTO))
    return [obj_of_key(kind, f, k) for kind, keys in (("rule", observed.rule_keys),
                                                     ("route", observed.route_keys))
            for f, k in keys if proto in k]


def _devices(observed):
    return {dict(k).get("dev") for _f, k in observed.route_keys
            if ("protocol", str(bands.PROTO)) in k} - {None}


# Words of a rule key's fields, in the order ip rule takes them; the
# action and flags apart.
RULE_WORDS = ("from", "to", "tos", "fwmark", "iif", "oif", "uidrange", "ipproto", "sport",
              "dport", "tun_id", "dscp", "flowlabel", "priority")
RULE_TAIL = ("suppress_prefixlength", "suppress_ifgroup", "realms", "protocol")
ROUTE_WORDS = ("via", "dev", "src", "table")


def obj_of_key(kind, family, key):
    """The Obj whose key is ``key`` (as observe read it): arguments that
    name that rule or route exactly, for deleting it."""
    d = dict(key)
    if kind == "route":
        args = [d["dst"]] + [w for n in ROUTE_WORDS if n in d for w in (n, d[n])]
        return Obj("route", family, tuple(args + ["proto", d["protocol"]]))
    args = [flag for flag in ("not", "l3mdev") if flag in d]
    for name in RULE_WORDS:
        if name in d:
            args += [name, f"{int(d[name]):#x}" if name == "tos" else d[name]]
    args += d["action"].split() if "action" in d else []
    return Obj("rule", family, tuple(args + [w for n in RULE_TAIL if n in d for w in (n, d[n])]))


def guessed_sysctls(iface, runner):
    return Sysctl(runner).guessed(iface)


def warn(line):
    """A warning from the engine, on stderr as cli.Context.warn writes it
    (the follower's goes to its log)."""
    print(f"policyroute: warning: {line}", file=sys.stderr, flush=True)


def slot_warnings(cfg, paths, registry):
    """checks.slot_collisions between this interface and the others that
    are started in its namespace, as warning lines."""
    from .checks import slot_collisions
    others = {}
    for record in paths.store().in_netns(cfg.netns, [], but=cfg.iface).values():  # a bad one is no hint
        if record.inputs:
            try:
                other = parse.parse_unit(record.iface, record.inputs, record.netns).cfg
            except ConfigErrors:
                continue            # a start of that interface says why
            others[other.ifvar] = other
    # This interface comes last, so a slot it shares is reported on it.
    return [e.message() for e in slot_collisions({**others, cfg.ifvar: cfg}, registry)
            if e.variable == f"table_{cfg.ifvar}"]
