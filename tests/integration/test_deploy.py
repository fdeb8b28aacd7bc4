"""`cargohold deploy`: the CI entry point, under load through the front door."""

from __future__ import annotations

import io

from frontdoor_helpers import Load, door_fleet

from cargohold.wait import wait_until
from conftest import FleetFixture, demo_site, run_cli

A = "www.example.com"


def test_deploy_rolls_out_a_new_image_without_a_failed_request_and_keeps_the_files_comments(fleet: FleetFixture):
    url = door_fleet(fleet, 23700, [demo_site(A, 23710)])
    fleet.path.write_text("# production fleet: edited by humans and by CI\n" +
                          fleet.path.read_text().replace(f"domain: {A}", f"domain: {A}  # the main site"))
    fleet.cli("storage", "init")
    assert fleet.cli("apply").code == 0
    with Load(url, A, seconds=90, uploads=True) as load:
        wait_until(lambda: load.ok > 50, 30, "load to start")
        result = fleet.cli("deploy", A, "cargohold-demo:2")
    assert result.code == 0, result.err
    assert "deployed cargohold-demo:2" in result.out
    assert load.failed == [], load.failed[:5]
    text = fleet.path.read_text()
    assert text.startswith("# production fleet") and "# the main site" in text and "cargohold-demo:2" in text
    assert [c.image.tags for c in fleet.containers()] == [["cargohold-demo:2"]] * 2
    assert fleet.cli("plan", "--json").json()["changes"] == 0


def test_a_failing_image_is_rolled_back_and_the_old_version_serves_throughout(fleet: FleetFixture):
    fleet.client.images.build(fileobj=io.BytesIO(b"FROM cargohold-demo:1\nENV DEMO_UNHEALTHY=1\n"),
                              tag="cargohold-demo:broken", rm=True)
    url = door_fleet(fleet, 23800, [demo_site(A, 23810, health={"http": "/healthz", "interval": 0.5, "timeout": 1,
                                                                "retries": 2, "deadline": 20})])
    fleet.cli("storage", "init")
    assert fleet.cli("apply").code == 0
    before = fleet.path.read_text()
    with Load(url, A, seconds=120) as load:
        wait_until(lambda: load.ok > 50, 30, "load to start")
        result = fleet.cli("deploy", A, "cargohold-demo:broken")
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.err  # progress lines aside, one line says why
    assert "rolled back to cargohold-demo:1" in errors[0] and "HTTP Error 500" in errors[0], errors[0]
    assert load.failed == [], load.failed[:5]
    assert fleet.path.read_text() == before
    assert fleet.cli("plan", "--json").json()["changes"] == 0
    assert all(c.image.tags == ["cargohold-demo:1"] for c in fleet.containers())


def test_deploy_refuses_bad_input_and_changes_nothing(fleet: FleetFixture):
    fleet.write([demo_site(A, 23900)])
    before = fleet.path.read_text()
    assert fleet.cli("deploy", "nope.example.com", "cargohold-demo:2").code == 2
    assert fleet.cli("deploy", A, "Bad Image!").code == 2
    # What CI might pass, or an attacker who controls a CI variable: each refused, nothing written.
    for domain, image in ((A, "cargohold-demo:2\nprivileged: true"), (A, "--help"), (A, "cargohold-demo:2 x"),
                          (f"{A}\n", "cargohold-demo:2"), ("../etc", "cargohold-demo:2"), (A, ""),
                          (A, "cargohold-demo:2\r"), (A, "registry:5000/x:1\u2028")):
        result = fleet.cli("deploy", "--", domain, image)
        assert result.code == 2 and result.err.startswith("error: "), (domain, image, result.err)
    assert fleet.path.read_text() == before and fleet.containers() == []
    link = fleet.path.with_name("linked.yml")
    link.symlink_to(fleet.path)
    result = run_cli("-f", str(link), "deploy", A, "cargohold-demo:2")
    assert result.code == 2 and "symlink" in result.err, result.err
    assert fleet.path.read_text() == before and fleet.containers() == []


def test_scale_up_and_down_under_load_keeps_every_request_and_the_files_comments(fleet: FleetFixture):
    """runtime docker: `cargohold scale` adds an instance (its own port) and removes it again (out of
    the front door's rotation before it stops), under load; comments stay; bad counts exit 2."""
    url = door_fleet(fleet, 24000, [demo_site(A, 24010)])
    fleet.path.write_text(fleet.path.read_text().replace(f"domain: {A}", f"domain: {A}  # scaled by ops"))
    fleet.cli("storage", "init")
    assert fleet.cli("apply").code == 0
    with Load(url, A, seconds=90, uploads=True) as load:
        wait_until(lambda: load.ok > 30, 30, "load to start")
        up = fleet.cli("scale", A, "3")
        scaled = sorted(c.name for c in fleet.containers())
        wait_until(lambda: load.ok > 60, 30, "load after scaling up")
        down = fleet.cli("scale", A, "2")
    assert up.code == 0, up.err
    assert down.code == 0, down.err
    assert f"{A}: 3 instances (was 2), every one healthy" in up.out
    assert len(scaled) == 3, scaled
    assert load.failed == [], load.failed[:5]
    assert len(fleet.containers()) == 2 and "# scaled by ops" in fleet.path.read_text()
    before = fleet.path.read_text()
    assert fleet.cli("scale", A, "1").code == 2 and fleet.cli("scale", "nope.example.com", "3").code == 2
    assert fleet.path.read_text() == before
    assert fleet.cli("plan", "--json").json()["changes"] == 0
