"""What a web node reads is what another node wrote: cross-node consistency through the real mounts,
and the `storage check` canary that monitoring runs (it must catch a node that reads stale bytes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gluster_helpers import GlusterLab

from conftest import run_cli

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from consistency import ROWS, measure_row  # noqa: E402

ROW_LIMIT = 2.0  # the bound: the FUSE attribute timeout is 1 s


def test_every_change_on_one_node_is_seen_on_the_other_within_two_seconds(gluster: GlusterLab):
    """For each kind of change, made through web1's mount while web2 has just looked the name up
    and read it (and the other way round), web2 reads the new state within 2 s."""
    delays: dict[str, list[float]] = {}
    for writer, reader in ((1, 2), (2, 1)):
        base_w, base_r = gluster.mount(writer) / "consistency", gluster.mount(reader) / "consistency"
        base_w.mkdir(exist_ok=True)
        for row in ROWS:
            delays.setdefault(row.name, []).append(measure_row(row, base_w, base_r, limit=ROW_LIMIT + 3))
    print({k: [round(d, 3) for d in v] for k, v in delays.items()})
    slow = {k: v for k, v in delays.items() if max(v) > ROW_LIMIT}
    assert slow == {}, f"seen later than {ROW_LIMIT}s (limit+3 = never): {slow}"


def test_storage_check_reports_every_node_and_status_shows_it(gluster: GlusterLab):
    result = run_cli("-f", str(gluster.fleet_file), "storage", "check", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["writer"] == "web1" and [n["node"] for n in report["nodes"]] == ["web2"]
    node = report["nodes"][0]
    assert node["state"] == "ok" and node["create_s"] < 2 and node["rewrite_s"] < 2, node
    canary = gluster.mount(1) / ".cargohold-canary"
    assert [p.name for p in canary.iterdir()] == ["last-check.json"], "the canary file is removed"
    status = run_cli("-f", str(gluster.fleet_file), "status", "--json", "--no-usage").json()
    assert status["storage_check"]["at"] == report["at"]
    assert not any("storage check" in r for r in status["degraded"])


def test_storage_check_catches_a_node_that_reads_stale_bytes(gluster: GlusterLab):
    """The caching options of an earlier profile (md-cache taking upcalls, quick-read then trusting
    upcalls it does not act on): a rewrite in place is never seen on web2. The canary must say web2
    is stale, exit 1, and status must show it."""
    good = gluster.fleet_file.read_text()
    data = json.loads(good)
    data["storage"]["options"] = {"performance.cache-invalidation": "on",
                                  "performance.quick-read-cache-invalidation": "off"}
    bad = gluster.fleet_file.with_name("gluster-stale-fleet.yml")
    bad.write_text(json.dumps(data))
    try:
        assert run_cli("-f", str(bad), "apply").code == 0
        result = run_cli("-f", str(bad), "storage", "check", "--json")
        assert result.code == 1
        node = result.json()["nodes"][0]
        assert node["node"] == "web2" and node["state"] == "stale" and "in-place rewrite" in node["detail"], node
        assert "web2: stale" in result.err and "cargohold apply" in result.err
        status = run_cli("-f", str(bad), "status", "--json", "--no-usage")
        assert status.code == 1
        assert any(r.startswith("storage check: web2: stale") for r in status.json()["degraded"])
    finally:
        assert run_cli("-f", str(gluster.fleet_file), "apply").code == 0
    result = run_cli("-f", str(gluster.fleet_file), "storage", "check")
    assert result.code == 0, result.err
