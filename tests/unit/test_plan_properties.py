"""Property: for any fleet and any starting world, executing the plan (simulated, pure) yields a world
whose plan is empty. That is what makes a second `apply` a no-op."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from worlds import converged_door

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import (
    Action,
    Desired,
    EnsureDir,
    Observed,
    ObservedDir,
    ObservedFrontDoor,
    ObservedInstance,
    RemoveInstance,
    ReplaceInstance,
    StartInstance,
    StorageState,
    SyncFrontDoor,
)
from cargohold.plan import plan

DOMAINS = [f"s{i}.example.com" for i in range(6)]


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    domains = draw(st.lists(st.sampled_from(DOMAINS), unique=True, max_size=4))
    nodes = draw(st.integers(1, 3))
    return Fleet.model_validate({
        "fleet": "p",
        "storage": {"backend": "local", "root": "/srv"},
        "nodes": [{"name": f"n{i}", "engine": f"unix:///run/n{i}.sock", "address": f"10.0.0.{i + 1}"}
                  for i in range(nodes)],
        **({"frontdoor": {"http": "127.0.0.1:18000"}} if draw(st.booleans()) else {}),
        "sites": [
            {"domain": d, "image": draw(st.sampled_from(["a:1", "a:2"])), "port": 20000 + 100 * i,
             "instances": draw(st.integers(1, 4)), "writable": {"/w": "files"}, "logs": "/l",
             "env": draw(st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["x", "y"]), max_size=2))}
            for i, d in enumerate(domains)
        ],
    })


@st.composite
def worlds(draw: st.DrawFn, desired: Desired) -> Observed:
    """A world near the desired one: some instances missing, stopped, outdated, misplaced, extra;
    some directories missing or with other owners; containers of sites no longer in the file."""
    instances = []
    n = 0
    for site in desired.sites:
        for spec in site.instances:
            fate = draw(st.sampled_from(["ok", "missing", "exited", "old", "moved", "dup"]))
            if fate == "missing":
                continue
            config = spec.config() if fate != "old" else {**spec.config(), "image": "old:0"}
            node = spec.node if fate != "moved" else "elsewhere"
            copies = 2 if fate == "dup" else 1
            for _ in range(copies):
                n += 1
                instances.append(_observed(spec.site, spec.slot, node, n, "exited" if fate == "exited" else "running",
                                           config))
        for extra in range(draw(st.integers(0, 2))):  # scaled down
            n += 1
            instances.append(_observed(site.domain, len(site.instances) + 1 + extra, "n0", n, "running", {}))
    for gone in draw(st.lists(st.sampled_from(DOMAINS), unique=True, max_size=2)):
        if desired.site(gone) is None:
            n += 1
            instances.append(_observed(gone, 1, "n0", n, "running", {}))
    dirs = []
    for site in desired.sites:
        for d in site.dirs:
            fate = draw(st.sampled_from(["ok", "missing", "owner"]))
            if fate != "missing":
                dirs.append(ObservedDir(d.relpath, True, 0 if fate == "owner" else d.uid, d.gid, d.mode))
    # Front doors down, running what the fleet asks for, or running another configuration.
    doors = []
    for spec in desired.frontdoors:
        fate = draw(st.sampled_from(["ok", "down", "other"]))
        if fate == "ok":
            doors.append(converged_door(spec))
        elif fate == "other":
            doors.append(ObservedFrontDoor(spec.node, True, "0" * 16, (("gone.example.com", ("i1 10.0.0.9:1",)),)))
    return Observed(tuple(instances), tuple(dirs), StorageState("/srv", True), frontdoors=tuple(doors))


def _observed(site: str, slot: int, node: str, n: int, state: str, config: dict) -> ObservedInstance:
    from cargohold.config_labels import config_hash

    return ObservedInstance(site, slot, node, f"c{n}", f"p_{site}_{slot}_{n}", state, "healthy",
                            config_hash(config), config, int(config.get("port", 0)))


def simulate(observed: Observed, actions: tuple[Action, ...]) -> Observed:
    """What apply does to the world, action by action (the runtime and storage, modelled)."""
    instances = list(observed.instances)
    dirs = {d.relpath: d for d in observed.dirs}
    doors = {d.node: d for d in observed.frontdoors}
    for i, action in enumerate(actions):
        match action.op:
            case EnsureDir(spec=d):
                dirs[d.relpath] = ObservedDir(d.relpath, True, d.uid, d.gid, d.mode)
            case RemoveInstance(old=old):
                instances = [x for x in instances if x.container_id != old.container_id]
            case ReplaceInstance(spec=spec, old=old):
                instances = [x for x in instances if x.container_id != old.container_id]
                instances.append(_observed(spec.site, spec.slot, spec.node, 10_000 + i, "running", spec.config()))
            case StartInstance(spec=spec):
                instances.append(_observed(spec.site, spec.slot, spec.node, 10_000 + i, "running", spec.config()))
            case SyncFrontDoor(spec=door):
                doors[door.node] = converged_door(door)
            case other:
                raise AssertionError(f"not a docker-runtime operation: {other}")
    return dataclasses.replace(observed, instances=tuple(instances), dirs=tuple(dirs.values()),
                               frontdoors=tuple(doors.values()))



@settings(max_examples=300, deadline=None)
@given(st.data())
def test_executing_the_plan_reaches_the_desired_world_and_a_second_plan_is_empty(data: st.DataObject) -> None:
    desired = desired_state(data.draw(fleets()))
    world = data.draw(worlds(desired))
    first = plan(desired, world)
    assert not first.blockers
    targets = [a.target for a in first.actions]
    for action in first.actions:  # every dependency comes earlier in the plan
        assert all(targets.index(dep) < targets.index(action.target) for dep in action.after if dep in targets)
    after = simulate(world, first.actions)
    second = plan(desired, after)
    assert second.actions == () and second.blockers == ()
    # ... and that world is the desired one: one running container per instance, as specified, on its
    # node, nothing else; every directory with its owner and mode.
    want = {(s.site, s.slot, s.node, s.config_hash()) for site in desired.sites for s in site.instances}
    have = [(i.site, i.slot, i.node, i.config_hash) for i in after.instances if i.state == "running"]
    assert sorted(have) == sorted(want) and len(after.instances) == len(want)
    dirs = {(d.relpath, d.uid, d.gid, d.mode) for site in desired.sites for d in site.dirs}
    assert dirs <= {(d.relpath, d.uid, d.gid, d.mode) for d in after.dirs}
    # Every front door runs the configuration of exactly these instances, synced after the last of them.
    assert {d.node: d.config_hash for d in after.frontdoors if d.running} == {
        f.node: f.config.config_hash() for f in desired.frontdoors}
    changed = [i for i, a in enumerate(first.actions) if isinstance(a.op, StartInstance | ReplaceInstance
                                                                     | RemoveInstance)]
    syncs = [i for i, a in enumerate(first.actions) if isinstance(a.op, SyncFrontDoor)]
    assert not changed or not syncs or max(changed) < min(syncs)
