"""Data-driven plan tests: each tests/unit/plan_cases/*.json is a fleet, what was observed, and the
actions plan() must produce. Add a case by adding a file."""

import json
from pathlib import Path

import pytest

from cargohold.config_labels import config_hash, label_config
from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import Desired, Observed, ObservedDir, ObservedInstance, StorageState
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
    storage = StorageState("/srv/storage", spec.get("storage_ok", True), "" if spec.get("storage_ok", True)
                           else "no marker: not initialised")
    return Observed(tuple(instances), dirs, storage)


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
    rendered = json.dumps([a.reason for a in result.actions])
    for text in expect.get("absent_text", []):
        assert text not in rendered


def test_plan_is_pure_and_deterministic():
    case = json.loads((Path(__file__).parent / "plan_cases" / "image-change-rolls.json").read_text())
    desired = desired_state(Fleet.model_validate(case["fleet"]))
    observed = observed_from_case(desired, case["observed"])
    assert plan(desired, observed) == plan(desired, observed)
