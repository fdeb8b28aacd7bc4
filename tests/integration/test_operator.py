"""The operator's day against the lab: `init` writes a file that plans; -f after the command."""

from __future__ import annotations

from pathlib import Path

from cargohold.lab import Lab
from conftest import run_cli


def test_init_writes_a_file_that_plans_against_the_lab_and_is_never_overwritten(lab: Lab, tmp_path: Path):
    path, root = tmp_path / "cargohold.yml", tmp_path / "storage"
    root.mkdir()
    result = run_cli("init", "-f", str(path), "--fleet", "initlab", "--domain", "init.example.com",
                     "--image", "cargohold-demo:1", "--port", "21500", "--node", f"web1={lab.engine.url}",
                     "--storage-root", str(root), "--plain-dir")
    assert result.code == 0, result.err
    text = path.read_text()
    assert "# backup:" in text and "init.example.com" in text
    again = run_cli("init", "-f", str(path), "--domain", "other.example.com")
    assert again.code == 2 and "exists already" in again.err and path.read_text() == text
    assert run_cli("storage", "init", "-f", str(path)).code == 0
    plan = run_cli("plan", "--json", "-f", str(path))  # -f after the command, as kubectl users type it
    assert plan.code == 0, plan.err
    targets = [a["target"] for a in plan.json()["actions"]]
    assert "instance init.example.com#1" in targets and "instance init.example.com#2" in targets
    before = run_cli("-f", str(path), "plan", "--json")
    assert before.code == 0 and before.json()["actions"] == plan.json()["actions"]


def test_init_refuses_hostile_values_and_writes_nothing(tmp_path: Path):
    path = tmp_path / "cargohold.yml"
    for args in (["--node", "web1=unix:///x.sock\n#evil"], ["--domain", "a.example.com\nfleet: x"],
                 ["--node", "web1=-H tcp://0.0.0.0:2375"], ["--storage-root", "/etc/../srv"]):
        result = run_cli("init", "-f", str(path), *args)
        assert result.code == 2, (args, result.err)
        assert not path.exists()
