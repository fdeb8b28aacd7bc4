from pathlib import Path

import pytest

from badfleets import bad_fleets
from cargohold.errors import FleetError
from cargohold.fleet import load_fleet, parse_fleet
from cargohold.fleet.desired import desired_state

ENV = {"T_ROOT": "/srv/storage", "T_ENGINE": "unix:///run/x.sock", "T_STATE": "/srv/state",
       **{f"T_S{i}": f"127.1.9.{i}" for i in (1, 2, 3)}, **{f"T_BRICK{i}": f"/data/b{i}" for i in (1, 2, 3)},
       **{f"T_SOCK{i}": f"/run/g{i}.sock" for i in (1, 2, 3)}}
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("case", [c for c in bad_fleets() if c.exit_code == 2], ids=lambda c: c.id)
def test_bad_fleet_is_rejected_naming_the_field(case):
    with pytest.raises(FleetError) as err:
        parse_fleet(case.path.read_text(), case.path.name, ENV)
    message = str(err.value)
    assert case.expect in message
    assert message.startswith(f"{case.path.name}")  # every line says where


def test_corpus_is_large_enough():
    assert len(bad_fleets()) >= 25


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_examples_are_valid(example):
    fleet = load_fleet(example, {"CARGOHOLD_LAB": "/dev/shm/x"})
    assert fleet.sites


def test_error_points_at_the_line():
    text = "fleet: t\nstorage: {backend: local, root: /s}\nnodes:\n  - {name: n, engine: 'unix:///x'}\n" \
           "sites:\n  - domain: ok.example.com\n    image: a:1\n    port: 20000\n    instances: -3\n"
    with pytest.raises(FleetError, match=r"^f.yml:9: sites\[0\]\.instances: "):
        parse_fleet(text, "f.yml", {})


def test_variables_expand_with_defaults_and_dollar_escape():
    text = "fleet: t\nstorage: {backend: local, root: '${R:-/srv/s}'}\nnodes:\n" \
           "  - {name: n, engine: 'unix://${SOCK}'}\nsites:\n  - domain: a.example.com\n    image: a:1\n" \
           "    port: 20000\n    env: {PRICE: '$$5'}\n"
    fleet = parse_fleet(text, "f.yml", {"SOCK": "/run/d.sock"})
    assert fleet.storage.root == "/srv/s"
    assert fleet.nodes[0].engine == "unix:///run/d.sock"
    assert fleet.sites[0].env == {"PRICE": "$5"}


def test_desired_state_spreads_instances_and_names_areas():
    text = "fleet: t\nstorage: {backend: local, root: /s}\nnodes:\n  - {name: a, engine: 'unix:///a'}\n" \
           "  - {name: b, engine: 'unix:///b'}\nsites:\n  - domain: x.example.com\n    image: i:1\n" \
           "    port: 20000\n    instances: 3\n    writable: {/var/www/files: files}\n    logs: /var/log/x\n" \
           "    uid: 1000\n    gid: 1001\n"
    desired = desired_state(parse_fleet(text, "f.yml", {}))
    site = desired.sites[0]
    assert [(i.slot, i.node, i.port) for i in site.instances] == [(1, "a", 20000), (2, "b", 20001), (3, "a", 20002)]
    assert [(d.relpath, d.uid, d.gid, oct(d.mode)) for d in site.dirs] == [
        ("files/x.example.com", 1000, 1001, "0o755"),
        ("logs/x.example.com", 1000, 1001, "0o750"),
    ]
    assert site.instances[0].user == "1000:1001"
    assert [(m.source, m.target) for m in site.instances[0].mounts] == [
        ("files/x.example.com", "/var/www/files"), ("logs/x.example.com", "/var/log/x")]
