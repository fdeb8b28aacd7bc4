"""A storage node can die and the sites keep reading and writing, with nothing lost: real glusterd,
real FUSE mounts, real faults. Two writers stand in for two web nodes, each through its own mount."""

from __future__ import annotations

import signal
import time

import pytest
from gluster_helpers import GlusterLab, Writer, partition

from cargohold.wait import wait_until
from conftest import run_cli

PING_TIMEOUT = 5  # the profile's network.ping-timeout
STALL_LIMIT = 2 * PING_TIMEOUT + 4  # the bound: 2x ping-timeout plus a small margin
HEAL_LIMIT = 120


@pytest.fixture
def cluster(gluster: GlusterLab):
    """Each scenario starts from, and leaves behind, a healthy cluster."""
    assert gluster.heal_total() == 0
    yield gluster
    gluster.lab.up(storage=3, web=2)  # restarts a glusterd that a scenario killed
    result = run_cli("-f", str(gluster.fleet_file), "apply")
    assert result.code == 0, result.err
    gluster.wait_healed(HEAL_LIMIT)


def start_writers(gluster: GlusterLab, tag: str) -> list[Writer]:
    writers = [Writer(f"{tag}-web1", gluster.site_dir(1)), Writer(f"{tag}-web2", gluster.site_dir(2))]
    for w in writers:
        w.start()
    wait_until(lambda: all(len(w.acked) >= 5 for w in writers), 30, "writers to get going")
    return writers


def status(gluster: GlusterLab) -> dict:
    result = run_cli("-f", str(gluster.fleet_file), "status", "--json", "--no-usage")
    data = result.json()
    data["exit"] = result.code
    return data


def progress_after(writers: list[Writer], seconds: float) -> None:
    """Wait until every writer has acknowledged new files after `seconds` from now."""
    counts = [len(w.acked) for w in writers]
    deadline = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= deadline and all(len(w.acked) > c + 3 for w, c in zip(writers, counts,
               strict=True)), seconds + 60, "writers to continue")


def recover_and_check(gluster: GlusterLab, writers: list[Writer]) -> None:
    progress_after(writers, 3)
    for w in writers:
        w.finish()
    # No manual heal: the profile's heal-timeout must get the backlog to zero by itself.
    healed_in = gluster.wait_healed(HEAL_LIMIT)
    wait_until(lambda: gluster.clients_connected(1) and gluster.clients_connected(2), 30, "clients to reconnect")
    assert [w.failed for w in writers] == [{}, {}], "no write may fail"
    assert gluster.check_replicas(writers) > 0
    print(f"healed in {healed_in:.1f}s; max write gaps {[round(w.max_gap, 1) for w in writers]}")


def test_hung_data_node_stalls_writes_briefly_then_heals_by_itself(cluster: GlusterLab):
    writers = start_writers(cluster, "hang")
    pids = cluster.signal_node(2, signal.SIGSTOP)
    try:
        report = status(cluster)
        assert report["exit"] == 1
        assert any("s2" in r or cluster.servers[1].address in r for r in report["degraded"]), report["degraded"]
        progress_after(writers, 2 * PING_TIMEOUT + 5)  # past the disconnect point: writes go on
    finally:
        for pid in pids:
            cluster_kill(pid, signal.SIGCONT)
    recover_and_check(cluster, writers)
    assert max(w.max_gap for w in writers) <= STALL_LIMIT


def test_partitioned_data_node_stalls_writes_briefly_then_heals_by_itself(cluster: GlusterLab):
    writers = start_writers(cluster, "part")
    with partition(cluster.servers[1].address):
        progress_after(writers, 2 * PING_TIMEOUT + 5)
        report = status(cluster)
        assert report["exit"] == 1
        assert any(cluster.servers[1].address in r or "s2" in r for r in report["degraded"]), report["degraded"]
    recover_and_check(cluster, writers)
    assert max(w.max_gap for w in writers) <= STALL_LIMIT


def cluster_kill(pid: int, sig: signal.Signals) -> None:
    import contextlib
    import os

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
