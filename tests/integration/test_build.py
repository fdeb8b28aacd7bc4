"""`cargohold build` and `deploy --build`: a site's image from a directory's Dockerfile through the
Engine API, rolled out under load through the front door."""

from __future__ import annotations

import subprocess
from pathlib import Path

from frontdoor_helpers import Load, door_fleet, request

from cargohold.wait import wait_until
from conftest import FleetFixture, demo_site

A = "www.example.com"


def checkout(path: Path, dockerfile: str) -> str:
    path.mkdir()
    (path / "Dockerfile").write_text(dockerfile)
    git = ["git", "-C", str(path), "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "Dockerfile"], check=True)
    subprocess.run([*git, "commit", "-qm", "site"], check=True)
    return subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_deploy_build_rolls_the_new_version_out_without_a_failed_request(fleet: FleetFixture, tmp_path: Path):
    url = door_fleet(fleet, 24100, [demo_site(A, 24110)])
    assert fleet.cli("storage", "init").code == 0
    assert fleet.cli("apply").code == 0
    commit = checkout(tmp_path / "site", "FROM cargohold-demo:1\nENV DEMO_VERSION=built-by-ci\n")
    with Load(url, A, seconds=120) as load:
        wait_until(lambda: load.ok > 50, 30, "load to start")
        result = fleet.cli("deploy", A, "--build", str(tmp_path / "site"))
    assert result.code == 0, result.err
    assert f"deployed cargohold-demo:{commit}" in result.out
    assert "Step 2/2 : ENV DEMO_VERSION=built-by-ci" in result.err  # the build's output, streamed
    assert load.failed == [], load.failed[:5]
    assert f"image: cargohold-demo:{commit}" in fleet.path.read_text()
    assert [c.image.tags for c in fleet.containers()] == [[f"cargohold-demo:{commit}"]] * 2
    for _ in range(4):  # both instances, round robin
        status = request(url, A, "GET", "/")
        assert status == 200
    (tmp_path / "site" / "extra").write_text("changed")
    dirty = fleet.cli("build", A, str(tmp_path / "site"))
    assert dirty.code == 0 and dirty.out.strip() == f"cargohold-demo:{commit}-dirty", dirty.err


def test_a_failing_build_names_its_step_and_deploys_nothing(fleet: FleetFixture, tmp_path: Path):
    fleet.write([demo_site(A, 24200)])
    assert fleet.cli("storage", "init").code == 0
    before = fleet.path.read_text()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "Dockerfile").write_text("FROM cargohold-demo:1\nRUN exit 3\n")
    result = fleet.cli("deploy", A, "--build", str(tmp_path / "broken"), "--tag", "broken")
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Step 2/2 : RUN exit 3" in errors[0] and "returned a non-zero code: 3" in errors[0], \
        result.err
    assert fleet.path.read_text() == before and fleet.containers() == []
    (tmp_path / "empty").mkdir()
    missing = fleet.cli("build", A, str(tmp_path / "empty"), "--tag", "x")
    assert missing.code == 1 and "no Dockerfile" in missing.err
    assert fleet.cli("build", "nope.example.com", str(tmp_path / "broken"), "--tag", "x").code == 2
    assert fleet.cli("build", A, str(tmp_path / "broken"), "--tag", "-x").code == 2
    assert fleet.cli("build", A, str(tmp_path / "broken"), "--tag", "x", "--push").code == 2  # no registry
