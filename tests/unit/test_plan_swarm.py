"""plan() for runtime swarm: the swarm itself, node labels (the storage guard), one service per site."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from worlds import converged_door

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import (
    Action,
    CreateService,
    Desired,
    EnsureDir,
    InitSwarm,
    JoinSwarm,
    Observed,
    ObservedDir,
    ObservedService,
    ObservedSwarm,
    RemoveService,
    SetNodeLabels,
    StorageState,
    SwarmNode,
    SyncFrontDoor,
    UpdateService,
    config_hash,
)
from cargohold.plan import plan
from cargohold.plan.swarm import swarm_actions

LABEL = "cargohold.storage.p"


def fleet(instances: int = 2, image: str = "reg:5000/a:1", create: bool = True, **site: object) -> Desired:
    return desired_state(Fleet.model_validate({
        "fleet": "p",
        "runtime": "swarm",
        "swarm": {"create": create},
        "storage": {"backend": "local", "root": "/srv"},
        "nodes": [{"name": f"web{i}", "engine": f"unix:///run/w{i}.sock", "address": f"10.0.0.{i}",
                   **({"labels": {"zone": "a"}} if i < 3 else {})} for i in (1, 2, 3)],
        "frontdoor": {"http": "127.0.0.1:18000", "check_interval": 1, "rise": 2},
        "sites": [{"domain": "a.example.com", "image": image, "port": 20000, "instances": instances,
                   "writable": {"/w": "files"}, **site}],
    }))


def node(name: str, labels: dict[str, str] | None = None, state: str = "ready") -> SwarmNode:
    return SwarmNode(name, f"id-{name}", state, "active", "", name == "web1",
                     tuple(sorted((labels if labels is not None else {LABEL: "ok"}).items())))


def world(desired: Desired, swarm: ObservedSwarm, nodes: tuple[StorageState, ...] = ()) -> Observed:
    """The swarm as given; directories and front doors as the fleet asks for."""
    dirs = tuple(ObservedDir(d.relpath, True, d.uid, d.gid, d.mode) for s in desired.sites for d in s.dirs)
    return Observed((), dirs, StorageState("/srv", True), nodes=nodes, swarm=swarm,
                    frontdoors=tuple(converged_door(f) for f in desired.frontdoors))


def running(desired: Desired, **changes: object) -> ObservedService:
    spec = desired.sites[0].service
    assert spec is not None
    seen = ObservedService(spec.site, "svc1", spec.replicas, spec.config_hash(), spec.config())
    return dataclasses.replace(seen, **changes)


def steps(p) -> list[tuple[str, str]]:
    return [(a.kind, a.target) for a in p.actions if not a.target.startswith("frontdoor")]


def test_a_new_swarm_is_created_joined_labelled_then_the_service_created():
    desired = fleet()
    p = plan(desired, world(desired, ObservedSwarm(active=False, problem="inactive")))
    assert steps(p) == [
        ("create", "swarm web1"), ("create", "swarm node web2"), ("create", "swarm node web3"),
        ("update", "swarm node web1 labels"), ("update", "swarm node web2 labels"),
        ("update", "swarm node web3 labels"), ("create", "service a.example.com")]
    service = next(a for a in p.actions if isinstance(a.op, CreateService))
    assert {"swarm web1", "swarm node web1 labels"} <= set(service.after)


def test_without_create_a_missing_swarm_blocks():
    desired = fleet(create=False)
    p = plan(desired, world(desired, ObservedSwarm(active=False, problem="its engine's swarm state is inactive")))
    assert any("set swarm.create: true" in b for b in p.blockers)


def test_converged_swarm_plans_nothing():
    desired = fleet()
    swarm = ObservedSwarm(True, (node("web1", {"zone": "a", LABEL: "ok"}), node("web2", {"zone": "a", LABEL: "ok"}),
                                 node("web3")), (running(desired),))
    assert plan(desired, world(desired, swarm)).actions == ()


def test_a_node_whose_storage_is_gone_is_excluded_first_and_gets_no_label_back():
    desired = fleet()
    swarm = ObservedSwarm(True, (node("web1", {"zone": "a", LABEL: "ok"}), node("web2", {"zone": "a", LABEL: "ok"}),
                                 node("web3")), (running(desired),))
    broken = StorageState("/srv", False, "storage not mounted at /srv", node="web2")
    p = plan(desired, world(desired, swarm, (broken,)))
    assert steps(p)[0] == ("update", "swarm node web2 exclude")
    assert "swarm node web2 labels" not in {a.target for a in p.actions}
    assert any("web2 gets no instances" in w for w in p.warnings)
    # With a mount planned to repair it, the exclusion still comes first and the label comes back after.
    draft = swarm_actions(desired.swarm, swarm, {"web2": broken}, {"web2": "mount web2"})  # type: ignore[arg-type]
    actions = draft.excludes + draft.actions
    targets = [a.target for a in actions]
    assert targets == ["swarm node web2 exclude", "swarm node web2 labels"]
    assert "mount web2" in actions[1].after


def test_image_and_count_changes_are_one_rolling_update_and_scaling_keeps_the_task_hash():
    old = fleet()
    swarm = ObservedSwarm(True, (node("web1", {"zone": "a", LABEL: "ok"}), node("web2", {"zone": "a", LABEL: "ok"}),
                                 node("web3")), (running(old),))
    new = fleet(image="reg:5000/a:2")
    [action] = [a for a in plan(new, world(new, swarm)).actions if isinstance(a.op, CreateService | UpdateService)]
    assert action.kind == "update" and "image changed: reg:5000/a:1 -> reg:5000/a:2" in action.reason
    scaled = fleet(instances=3)
    [action] = [a for a in plan(scaled, world(scaled, swarm)).actions
                if isinstance(a.op, CreateService | UpdateService)]
    assert "instances changed: 2 -> 3" in action.reason
    assert scaled.sites[0].service.task_hash() == old.sites[0].service.task_hash()  # type: ignore[union-attr]


def test_a_paused_update_is_redeployed_and_a_removed_site_loses_its_service():
    desired = fleet()
    nodes = (node("web1", {"zone": "a", LABEL: "ok"}), node("web2", {"zone": "a", LABEL: "ok"}), node("web3"))
    swarm = ObservedSwarm(True, nodes, (running(desired, update_state="rollback_paused", update_message="x"),))
    [action] = plan(desired, world(desired, swarm)).actions
    assert action.kind == "update" and "redeploy" in action.reason
    gone = dataclasses.replace(running(desired), site="old.example.com")
    swarm = ObservedSwarm(True, nodes, (running(desired), gone))
    assert steps(plan(desired, world(desired, swarm))) == [("remove", "service old.example.com")]


def test_defaults_stop_first_with_a_delay_the_front_doors_can_follow():
    spec = fleet().sites[0].service
    assert spec is not None
    assert spec.update.order == "stop-first" and spec.update.delay == 3.0  # check_interval x (rise + 1)
    assert spec.constraints == (f"node.labels.{LABEL}==ok",)
    placed = fleet(placement={"zone": "a"}).sites[0].service
    assert placed is not None and placed.constraints[1] == "node.labels.zone==a"


# -- property: any swarm fleet, any nearby world: executing the plan leaves nothing to plan ---------

DOMAINS = [f"s{i}.example.com" for i in range(5)]


@st.composite
def swarm_fleets(draw: st.DrawFn) -> Desired:
    domains = draw(st.lists(st.sampled_from(DOMAINS), unique=True, max_size=4))
    return desired_state(Fleet.model_validate({
        "fleet": "p", "runtime": "swarm", "swarm": {"create": True},
        "storage": {"backend": "local", "root": "/srv"},
        "nodes": [{"name": f"web{i}", "engine": f"unix:///run/w{i}.sock", "address": f"10.0.0.{i}",
                   "labels": draw(st.dictionaries(st.sampled_from(["zone", "disk"]), st.sampled_from(["a", "b"]),
                                                  max_size=1))} for i in (1, 2, 3)],
        "sites": [{"domain": d, "image": draw(st.sampled_from(["r:5000/a:1", "r:5000/a:2"])), "port": 20000 + i,
                   "instances": draw(st.integers(1, 3)), "writable": {"/w": "files"},
                   "env": draw(st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["x", "y"]), max_size=2))}
                  for i, d in enumerate(domains)],
    }))


@st.composite
def swarm_worlds(draw: st.DrawFn, desired: Desired) -> Observed:
    """No swarm yet, or one with nodes missing, labels missing or stale, storage broken somewhere,
    services missing, outdated, paused, or left from sites no longer in the file."""
    if draw(st.booleans()):
        swarm = ObservedSwarm(active=False, problem="inactive")
    else:
        nodes = []
        for name in ("web1", "web2", "web3"):
            if name != "web1" and draw(st.booleans()):
                continue  # not joined
            labels = draw(st.dictionaries(st.sampled_from(["zone", LABEL]), st.sampled_from(["a", "ok"]), max_size=2))
            nodes.append(node(name, labels))
        services = []
        for site in desired.sites:
            spec = site.service
            assert spec is not None
            fate = draw(st.sampled_from(["ok", "missing", "old", "paused"]))
            if fate == "missing":
                continue
            config = spec.config() if fate != "old" else {**spec.config(), "image": "r:5000/old:0"}
            services.append(ObservedService(spec.site, f"svc-{spec.site}", spec.replicas, config_hash(config),
                                            config, "paused" if fate == "paused" else "completed"))
        for gone in draw(st.lists(st.sampled_from(DOMAINS), unique=True, max_size=2)):
            if desired.site(gone) is None:
                services.append(ObservedService(gone, f"svc-{gone}", 2, "x", {}))
        swarm = ObservedSwarm(True, tuple(nodes), tuple(services),
                              not_joined=tuple(n for n in ("web2", "web3") if n not in {x.name for x in nodes}))
    broken = draw(st.lists(st.sampled_from(["web1", "web2", "web3"]), unique=True, max_size=1))
    states = tuple(StorageState("/srv", name not in broken, "not mounted" if name in broken else "", node=name)
                   for name in ("web1", "web2", "web3"))
    dirs = tuple(ObservedDir(d.relpath, True, d.uid, d.gid, d.mode) for s in desired.sites for d in s.dirs
                 if draw(st.booleans()))
    return Observed((), dirs, StorageState("/srv", True), nodes=states, swarm=swarm)


def simulate_swarm(desired: Desired, world: Observed, actions: tuple[Action, ...]) -> Observed:
    """What apply does, modelled: init and joins add nodes, label steps set and remove labels (the
    storage label only where the storage is usable: apply's guard), services take the spec."""
    assert world.swarm is not None and desired.swarm is not None
    swarm = world.swarm
    nodes = {n.name: dict(n.labels) for n in swarm.nodes}
    services = {s.site: s for s in swarm.services}
    usable = {s.node for s in world.nodes if s.ok}
    dirs = {d.relpath: d for d in world.dirs}
    doors = {d.node: d for d in world.frontdoors}
    for action in actions:
        match action.op:
            case InitSwarm():
                nodes, swarm = {"web1": {}}, dataclasses.replace(swarm, active=True)
            case JoinSwarm(node=name):
                nodes[name] = {}
            case SetNodeLabels(node=name, set=set_labels, remove=remove):
                labels = nodes[name]
                labels.update({k: v for k, v in set_labels if k != desired.swarm.storage_label or name in usable})
                for key in remove:
                    labels.pop(key, None)
            case EnsureDir(spec=d):
                dirs[d.relpath] = ObservedDir(d.relpath, True, d.uid, d.gid, d.mode)
            case RemoveService(old=old):
                services.pop(old.site)
            case CreateService(spec=spec) | UpdateService(spec=spec):
                services[spec.site] = ObservedService(spec.site, f"svc-{spec.site}", spec.replicas,
                                                      spec.config_hash(), spec.config(), "completed")
            case SyncFrontDoor(spec=door):
                doors[door.node] = converged_door(door)
            case other:
                raise AssertionError(f"not a swarm-runtime operation: {other}")
    swarm = dataclasses.replace(swarm, nodes=tuple(node(n, labels) for n, labels in sorted(nodes.items())),
                                services=tuple(services.values()),
                                not_joined=tuple(n for n in ("web1", "web2", "web3") if n not in nodes))
    return dataclasses.replace(world, swarm=swarm, dirs=tuple(dirs.values()), frontdoors=tuple(doors.values()))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_executing_a_swarm_plan_leaves_nothing_to_plan(data: st.DataObject) -> None:
    desired = data.draw(swarm_fleets())
    world = data.draw(swarm_worlds(desired))
    first = plan(desired, world)
    assert not first.blockers
    targets = [a.target for a in first.actions]
    for action in first.actions:
        assert all(targets.index(dep) < targets.index(action.target) for dep in action.after if dep in targets)
    after = simulate_swarm(desired, world, first.actions)
    second = plan(desired, after)
    assert [a.target for a in second.actions] == [] and second.blockers == ()
    assert after.swarm is not None
    # The storage label is exactly on the nodes whose storage is usable.
    broken = {s.node for s in world.nodes if not s.ok}
    for n in after.swarm.nodes:
        assert (dict(n.labels).get(LABEL) == "ok") == (n.name not in broken)
    want = {s.domain: s.service.config_hash() for s in desired.sites if s.service is not None}
    assert {s.site: s.config_hash for s in after.swarm.services} == want
    assert all(s.update_state not in ("paused", "rollback_paused") for s in after.swarm.services)
