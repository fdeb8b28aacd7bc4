"""Data-driven plan tests: each tests/unit/plan_cases/*.json is a fleet, what was observed, and the
actions plan() must produce. Add a case by adding a file (the keys of "observed" are described in
tests/unit/plan_cases/README.md)."""

import json
from pathlib import Path

import pytest
from worlds import converged_door

from cargohold.config_labels import config_hash, label_config
from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import (
    Brick,
    BrickStatus,
    Desired,
    MountState,
    Observed,
    ObservedCluster,
    ObservedDir,
    ObservedFrontDoor,
    ObservedInstance,
    ObservedService,
    ObservedSwarm,
    Peer,
    StorageState,
    SwarmNode,
    VolumeInfo,
)
from cargohold.plan import plan

CASES = sorted((Path(__file__).parent / "plan_cases").glob("*.json"))


def observed_from_case(desired: Desired, spec: dict) -> Observed:
    if spec.get("dirs") == "desired":
        dirs = tuple(ObservedDir(d.relpath, True, d.uid, d.gid, d.mode) for s in desired.sites for d in s.dirs)
    else:
        dirs = tuple(ObservedDir(**d) for d in spec.get("dirs", []))
    instances = []
    for n, raw in enumerate(spec.get("instances", [])):
        site = desired.site(raw["site"])
        want = next((i for i in site.instances if i.slot == raw["slot"]), None) if site else None
        config = want.config() if want and raw.get("desired") else {"image": "old:1", "port": 1}
        config = {**config, **raw.get("override", {})}
        instances.append(ObservedInstance(
            site=raw["site"], slot=raw["slot"], node=raw.get("node", want.node if want else "web1"),
            container_id=raw.get("container_id", f"c{n:03d}"), name=f"t_{raw['site']}_{raw['slot']}",
            state=raw.get("state", "running"), health=raw.get("health", "healthy"),
            config_hash=config_hash(config), config=label_config(config), port=int(config.get("port", 0)),
        ))
    root = desired.storage_root
    storage = StorageState(root, spec.get("storage_ok", True), "" if spec.get("storage_ok", True)
                           else "no marker: not initialised")
    nodes = tuple(StorageState(desired.root_of(n["node"]), n.get("ok", True), n.get("reason", ""), n["node"],
                               n.get("mounted", True)) for n in spec.get("nodes", []))
    return Observed(tuple(instances), dirs, storage, nodes=nodes, cluster=cluster_from_case(desired, spec),
                    frontdoors=frontdoors_from_case(desired, spec), swarm=swarm_from_case(desired, spec))


def frontdoors_from_case(desired: Desired, spec: dict) -> tuple[ObservedFrontDoor, ...]:
    """"frontdoors": "desired" (each runs what the fleet asks for), or a list of
    {"node", "running", "servers": {site: ["i1 10.0.0.1:20000", …]}} running another configuration."""
    raw = spec.get("frontdoors", [])
    if raw == "desired":
        return tuple(converged_door(f) for f in desired.frontdoors)
    return tuple(ObservedFrontDoor(d["node"], d.get("running", True), d.get("hash", "0" * 16),
                                   tuple(sorted((site, tuple(sorted(s))) for site, s in d.get("servers", {}).items())))
                 for d in raw)


def swarm_from_case(desired: Desired, spec: dict) -> ObservedSwarm | None:
    """"swarm": {"active", "nodes": [{"name", "labels", "state"}], "not_joined": [],
    "services": [{"site", "desired": true, "override": {…}, "update_state"}]}."""
    raw = spec.get("swarm")
    if raw is None:
        return None
    nodes = tuple(SwarmNode(n["name"], f"id-{n['name']}", n.get("state", "ready"), n.get("availability", "active"),
                            "", n["name"] == "web1", tuple(sorted(n.get("labels", {}).items())))
                  for n in raw.get("nodes", []))
    services = []
    for svc in raw.get("services", []):
        site = desired.site(svc["site"])
        want = site.service if site else None
        config = want.config() if want and svc.get("desired") else {"image": "old:1"}
        config = {**config, **svc.get("override", {})}
        services.append(ObservedService(svc["site"], f"svc-{svc['site']}", int(config.get("instances", 1)),
                                        config_hash(config), label_config(config), svc.get("update_state", "completed"),
                                        svc.get("update_message", "")))
    return ObservedSwarm(raw.get("active", True), nodes, tuple(services), tuple(raw.get("not_joined", [])),
                         raw.get("problem", ""))


def cluster_from_case(desired: Desired, spec: dict) -> ObservedCluster | None:
    """"cluster": {"error", "unreachable": [[server, why]], "peers": "all", "volume": null |
    {"status", "options": "desired" | {…}, "bricks": "desired"}, "offline": [brick], "mounts": "all" |
    [node], "quotas": {relpath: bytes}}."""
    raw = spec.get("cluster")
    if raw is None or desired.cluster is None:
        return None
    cluster = desired.cluster
    first, others = cluster.servers[0], cluster.servers[1:]
    peers = tuple(Peer(s.address, True) for s in others) if raw.get("peers", "all") == "all" else ()
    volume = None
    bricks: tuple[BrickStatus, ...] = ()
    if raw.get("volume") is not None:
        vol = raw["volume"]
        options = dict(cluster.options) if vol.get("options", "desired") == "desired" else vol["options"]
        layout = tuple(Brick(s.address, s.brick, cluster.arbiter > 0 and i == len(cluster.servers) - 1)
                       for i, s in enumerate(cluster.servers))
        volume = VolumeInfo(cluster.volume, vol.get("status", "Started"), cluster.replica, cluster.arbiter, layout,
                            options)
        offline = set(raw.get("offline", []))
        bricks = tuple(BrickStatus(b.address, b.path, b.name not in offline, 100 + i) for i, b in enumerate(layout))
    mounted = raw.get("mounts", "all")
    mounts = tuple(MountState(n.node, n.root, mounted == "all" or n.node in mounted) for n in desired.node_storage)
    return ObservedCluster(raw.get("error"), first.address, peers, volume, bricks, mounts,
                           tuple(raw.get("quotas", {}).items()),
                           unreachable=tuple(tuple(u) for u in raw.get("unreachable", [])))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_plan_case(path):
    case = json.loads(path.read_text())
    desired = desired_state(Fleet.model_validate(case["fleet"]))
    result = plan(desired, observed_from_case(desired, case["observed"]))
    expect = case["expect"]
    assert [[a.kind, a.target] for a in result.actions] == expect["actions"], case["description"]
    by_target = {a.target: a for a in result.actions}
    for target, deps in expect.get("after", {}).items():
        assert set(deps) <= set(by_target[target].after)
    for target, text in expect.get("reasons", {}).items():
        assert text in by_target[target].reason
    assert len(result.blockers) == len(expect.get("blockers", []))
    for text, blocker in zip(expect.get("blockers", []), result.blockers, strict=True):
        assert text in blocker
    for text in expect.get("warnings", []):
        assert any(text in warning for warning in result.warnings), result.warnings
    rendered = json.dumps([a.reason for a in result.actions])
    for text in expect.get("absent_text", []):
        assert text not in rendered


def test_plan_is_pure_and_deterministic():
    case = json.loads((Path(__file__).parent / "plan_cases" / "image-change-rolls.json").read_text())
    desired = desired_state(Fleet.model_validate(case["fleet"]))
    observed = observed_from_case(desired, case["observed"])
    assert plan(desired, observed) == plan(desired, observed)
