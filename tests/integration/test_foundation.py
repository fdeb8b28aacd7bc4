"""The foundation against a real dockerd: apply, idempotence, rolling replacement, repair."""

from __future__ import annotations

import os
import threading
import time

from cargohold.wait import wait_until
from conftest import FleetFixture, demo_site
from http_helpers import get, upload

DOMAIN = "www.example.com"


def apply_ok(fleet: FleetFixture) -> None:
    result = fleet.cli("apply")
    assert result.code == 0, result.err + result.out


def test_apply_brings_up_two_healthy_instances_sharing_storage(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21000)])
    assert fleet.cli("storage", "init").code == 0
    apply_ok(fleet)

    status = fleet.cli("status", "--json")
    assert status.code == 0, status.out
    report = status.json()
    rows = report["instances"]
    assert [(r["instance"], r["state"], r["health"], r["port"]) for r in rows] == [
        (1, "running", "healthy", 21000), (2, "running", "healthy", 21001)]
    assert report["degraded"] == []

    assert upload("http://127.0.0.1:21000", "logo.png", b"\x89PNG fake") == 201
    code, body, headers = get("http://127.0.0.1:21001/sites/default/files/logo.png")
    assert (code, body, headers["X-Instance"]) == (200, b"\x89PNG fake", "2")
    stored = fleet.root / "files" / DOMAIN / "logo.png"
    assert stored.read_bytes() == b"\x89PNG fake"
    assert (os.stat(stored).st_uid, os.stat(stored).st_gid) == (33, 33)
    # the access log lands in the site's log area too (written by the app's log thread)
    log = fleet.root / "logs" / DOMAIN / "access.log"
    wait_until(lambda: log.exists() and "logo.png" in log.read_text(), 10, "the access log line")


def test_second_apply_changes_nothing(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21010)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    ids = sorted(c.id for c in fleet.containers())
    plan = fleet.cli("plan", "--json")
    assert plan.code == 0 and plan.json()["changes"] == 0
    again = fleet.cli("apply")
    assert again.code == 0 and "No changes" in again.out
    assert sorted(c.id for c in fleet.containers()) == ids


def test_image_change_replaces_only_that_site_never_with_zero_healthy(fleet: FleetFixture):
    other = "blog.example.com"
    fleet.write([demo_site(DOMAIN, 21020), demo_site(other, 21030)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    other_ids = sorted(c.id for c in fleet.containers(other))

    fleet.write([demo_site(DOMAIN, 21020, image="cargohold-demo:2"), demo_site(other, 21030)])
    plan = fleet.cli("plan", "--json").json()
    assert [(a["kind"], a["target"]) for a in plan["actions"]] == [
        ("replace", f"instance {DOMAIN}#1"), ("replace", f"instance {DOMAIN}#2")]
    assert "image changed: cargohold-demo:1 -> cargohold-demo:2" in plan["actions"][0]["reason"]

    # Poll both instances every 50 ms while apply rolls; count moments where neither answers.
    stop = threading.Event()
    samples: list[tuple[int, int]] = []

    def poll() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            codes = [get(f"http://127.0.0.1:{p}/healthz", timeout=2)[0] for p in (21020, 21021)]
            samples.append((codes[0], codes[1]))
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        apply_ok(fleet)
    finally:
        stop.set()
        poller.join()
    assert len(samples) > 20, "the poller must have run during the rollout"
    assert all(200 in s for s in samples), f"zero healthy instances at some moment: {samples}"
    # both instances were really down once each (it was a replacement, not a no-op)
    assert any(s[0] != 200 for s in samples) and any(s[1] != 200 for s in samples)
    for port in (21020, 21021):
        assert get(f"http://127.0.0.1:{port}/")[2]["X-Version"] == "2"
    assert sorted(c.id for c in fleet.containers(other)) == other_ids


def test_removed_instance_shows_in_plan_and_apply_restores_it(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21040)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    victim = next(c for c in fleet.containers() if c.labels["cargohold.instance"] == "1")
    victim.remove(force=True)

    plan = fleet.cli("plan", "--json").json()
    assert [(a["kind"], a["target"]) for a in plan["actions"]] == [("create", f"instance {DOMAIN}#1")]
    status = fleet.cli("status", "--json")
    assert status.code == 1 and f"instance {DOMAIN}#1: missing" in status.json()["degraded"]

    apply_ok(fleet)
    assert get("http://127.0.0.1:21040/healthz")[0] == 200
    assert fleet.cli("plan", "--json").json()["changes"] == 0


def test_stopped_instance_is_replaced(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21050)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    victim = next(c for c in fleet.containers() if c.labels["cargohold.instance"] == "2")
    victim.stop(timeout=2)
    plan = fleet.cli("plan", "--json").json()
    assert [(a["kind"], a["reason"]) for a in plan["actions"]] == [("replace", "not running (exited)")]
    apply_ok(fleet)
    assert get("http://127.0.0.1:21051/healthz")[0] == 200


def test_site_removed_from_file_loses_containers_keeps_files(fleet: FleetFixture):
    gone = "old.example.com"
    fleet.write([demo_site(DOMAIN, 21060), demo_site(gone, 21070)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    assert upload("http://127.0.0.1:21070", "keep.txt", b"keep me") == 201

    fleet.write([demo_site(DOMAIN, 21060)])
    plan = fleet.cli("plan", "--json").json()
    assert {(a["kind"], a["target"]) for a in plan["actions"]} == {
        ("remove", f"instance {gone}#1"), ("remove", f"instance {gone}#2")}
    apply_ok(fleet)
    assert fleet.containers(gone) == []
    assert (fleet.root / "files" / gone / "keep.txt").read_bytes() == b"keep me"


def test_failing_new_image_stops_the_rollout_and_keeps_the_other_instance(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21080)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    broken = demo_site(DOMAIN, 21080, health={"http": "/no-such-page", "interval": 0.5, "timeout": 1,
                                              "retries": 2, "deadline": 20})
    fleet.write([broken])
    result = fleet.cli("apply")
    assert result.code == 1
    assert "unhealthy" in result.err and "apply stopped at instance www.example.com#1" in result.err
    # instance 2 was never touched: the site still serves
    assert get("http://127.0.0.1:21081/healthz")[0] == 200


def test_missing_image_is_refused_before_anything_stops(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21090)])
    fleet.cli("storage", "init")
    apply_ok(fleet)
    ids = sorted(c.id for c in fleet.containers())
    fleet.write([demo_site(DOMAIN, 21090, image="cargohold-demo:does-not-exist")])
    result = fleet.cli("apply")
    assert result.code == 1 and "cargohold-demo:does-not-exist" in result.err
    assert sorted(c.id for c in fleet.containers()) == ids
