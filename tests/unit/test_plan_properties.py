"""Property: for any fleet and any starting world, executing the plan (simulated, pure) yields a world
whose plan is empty. That is what makes a second `apply` a no-op."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import Action, Desired, Observed, ObservedDir, ObservedInstance, StorageState
from cargohold.plan import plan

DOMAINS = [f"s{i}.example.com" for i in range(6)]


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    domains = draw(st.lists(st.sampled_from(DOMAINS), unique=True, max_size=4))
    nodes = draw(st.integers(1, 3))
    return Fleet.model_validate({
        "fleet": "p",
        "storage": {"backend": "local", "root": "/srv"},
        "nodes": [{"name": f"n{i}", "engine": f"unix:///run/n{i}.sock"} for i in range(nodes)],
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
    return Observed(tuple(instances), tuple(dirs), StorageState("/srv", True))


def _observed(site: str, slot: int, node: str, n: int, state: str, config: dict) -> ObservedInstance:
    from cargohold.config_labels import config_hash

    return ObservedInstance(site, slot, node, f"c{n}", f"p_{site}_{slot}_{n}", state, "healthy",
                            config_hash(config), config, int(config.get("port", 0)))


def simulate(observed: Observed, actions: tuple[Action, ...]) -> Observed:
    """What apply does to the world, action by action (the runtime and storage, modelled)."""
    instances = list(observed.instances)
    dirs = {d.relpath: d for d in observed.dirs}
    for i, action in enumerate(actions):
        if action.dir is not None:
            d = action.dir
            dirs[d.relpath] = ObservedDir(d.relpath, True, d.uid, d.gid, d.mode)
            continue
        if action.observed is not None:
            instances = [x for x in instances if x.container_id != action.observed.container_id]
        if action.instance is not None:
            spec = action.instance
            instances.append(_observed(spec.site, spec.slot, spec.node, 10_000 + i, "running", spec.config()))
    return dataclasses.replace(observed, instances=tuple(instances), dirs=tuple(dirs.values()))


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
