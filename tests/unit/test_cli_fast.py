"""The CLI answers at once: what --help and a bad fleet file import; the libyaml loader keeps YAML 1.2
meanings, refuses duplicate keys and names lines; -f after the command; init's file validates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cargohold.errors import FleetError
from cargohold.fleet import yaml12
from cargohold.fleet.load import parse_fleet
from cargohold.fleet.template import fleet_template, parse_node

BAD = Path(__file__).parents[1] / "fleets" / "bad" / "04-duplicate-top-key.yml"


def imported_after(*argv: str) -> set[str]:
    code = ("import sys\nfrom cargohold.cli.main import main\nsys.argv = ['cargohold', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'paramiko', 'ruamel', "
            "'rich', 'cargohold'))), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    return set(result.stderr.strip().splitlines()[-1].split())


def test_help_imports_no_engine_sdk_no_driver_no_yaml():
    modules = imported_after("--help")
    assert not {m for m in modules if m.split(".")[0] in ("docker", "paramiko", "ruamel", "rich")}, modules
    assert "cargohold.backends" not in modules and "cargohold.fleet.schema" not in modules


def test_a_bad_fleet_file_is_reported_without_loading_a_driver():
    modules = imported_after("plan", "-f", str(BAD))
    assert "cargohold.fleet.load" in modules
    assert not {m for m in modules if m.split(".")[0] in ("docker", "paramiko", "ruamel")}, modules
    assert "cargohold.backends" not in modules


def test_yaml_12_meanings_lines_and_duplicates():
    data, lines = yaml12.load("a: yes\nb: on\nc: 0o755\nd: 1e3\ne: ~\nf: 2026-01-01\ng: '1'\nh: [1, x]\n"
                              "base: &b {k: 1}\nm:\n  <<: *b\n  j: 2\n", "f.yml")
    assert data == {"a": "yes", "b": "on", "c": 493, "d": 1000.0, "e": None, "f": "2026-01-01", "g": "1",
                    "h": [1, "x"], "base": {"k": 1}, "m": {"k": 1, "j": 2}}
    assert lines[("c",)] == 3 and lines[("h", 1)] == 8 and lines[("m", "j")] == 12
    with pytest.raises(FleetError, match=r"f.yml:3: YAML error: duplicate key: 'a' \(first on line 1\)"):
        yaml12.load("a: 1\nb: 2\na: 3\n", "f.yml")
    with pytest.raises(FleetError, match="f.yml:2: YAML error"):
        yaml12.load("a: [1\nb: 2\n", "f.yml")


def test_schema_errors_still_name_the_line():
    text = "fleet: t\nstorage: {backend: local, root: /srv/x, mount: false}\nnodes:\n  - name: Web1\n    engine: x\n"
    with pytest.raises(FleetError) as err:
        parse_fleet(text, "f.yml", {})
    assert "f.yml:4: nodes[0].name:" in str(err.value) and "f.yml:5: nodes[0].engine:" in str(err.value)


def test_init_template_validates_and_refuses_hostile_values():
    text = fleet_template("main", "www.example.com", "cargohold-demo:1",
                          [parse_node("web1=unix:///var/run/docker.sock"), parse_node("web2=ssh://deploy@10.0.0.2")],
                          "/storage")
    fleet = parse_fleet(text, "init.yml", {})
    assert [n.name for n in fleet.nodes] == ["web1", "web2"] and fleet.sites[0].instances == 2
    assert "# backup:" in text and "# frontdoor:" in text and "# env_file:" in text
    for bad in ("web1", "Web1=unix:///x", "web1=unix:///x\n#", "web1=-H tcp://x", "web1=http://x"):
        with pytest.raises(ValueError):
            parse_node(bad)
    with pytest.raises(ValueError):
        fleet_template("main", 'a"b.example.com', "x:1", [("web1", "unix:///x")], "/storage")


def test_log_line_times_and_since():
    from cargohold.model import line_time, parse_since

    assert line_time("2026-12-05T06:53:26.500000000Z hello") == 1796453606.5
    assert line_time("10.0.0.1 - [05/Dec/2026:06:53:26 +0100] \"GET / HTTP/1.1\"") == 1796453606 - 3600
    assert line_time("127.0.0.1 [05/Dec/2026:06:53:26.250] site=a server=i1 200") == 1796453606.25
    assert line_time("no time here") is None
    assert parse_since("10m", 1000.0) == 400.0
    assert parse_since("2026-12-05T06:53:26Z", 0) == 1796453606
    for bad in ("10 minutes", "-1m", "yesterday", "10m\n"):
        with pytest.raises(ValueError):
            parse_since(bad, 0)


def test_every_lazy_command_exists_and_every_command_is_lazy():
    import click

    from cargohold.cli.main import LAZY, cli

    ctx = click.Context(cli)
    for name in LAZY:
        assert cli.get_command(ctx, name) is not None, name
    assert set(cli.commands) == set(LAZY), "a command registered on `cli` but missing from LAZY is not listed"


@pytest.mark.parametrize("argv, says", [
    (["--shared", "--isolated"], "exclude each other"),
    (["--swarm", "--storage", "1"], "needs --storage 2 or 3"),
    (["--isolated", "--storage", "0"], "needs --storage 2 or 3"),
])
def test_lab_up_refuses_shapes_it_cannot_start_before_touching_anything(argv: list[str], says: str, tmp_path):
    lab = tmp_path / "lab"
    cli = str(Path(sys.executable).with_name("cargohold"))
    result = subprocess.run([cli, "lab", "up", *argv], capture_output=True, text=True, timeout=60,
                            env={"CARGOHOLD_LAB": str(lab), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert not lab.exists()
