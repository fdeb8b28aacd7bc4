"""A storage node can die and the sites keep reading and writing, with nothing lost: real glusterd,
real FUSE mounts, real faults. Two writers stand in for two web nodes, each through its own mount."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
from gluster_helpers import DOMAIN, GlusterLab, Reader, Writer, partition

from cargohold.process import pids_naming
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
    """On each web node one writer in place at the final name and one through temp + rename; a reader
    keeps every node's caches warm and checks every read it makes."""
    writers = [Writer(f"{tag}-web{n}-{mode}", gluster.site_dir(n), rename=mode == "rename")
               for n in (1, 2) for mode in ("inplace", "rename")]
    for w in writers:
        w.start()
    wait_until(lambda: all(len(w.acked) >= 3 for w in writers), 30, "writers to get going")
    gluster.reader = Reader(writers, [gluster.site_dir(1), gluster.site_dir(2)])
    gluster.reader.start()
    return writers


def refused_file_is_clean(path: Path, digest: str, *, in_place: bool) -> bool:
    """A refused write left nothing, the whole file, or (in place, where open truncated) an empty file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return True
    return hashlib.sha256(data).hexdigest() == digest or (in_place and not data)


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
    reader = finish_reader(gluster)
    assert [w.failed for w in writers] == [{}] * len(writers), "no write may fail"
    assert gluster.check_replicas(writers) > 0
    assert reader.reads > 100
    print(f"healed in {healed_in:.1f}s; max write gaps {[round(w.max_gap, 1) for w in writers]}")


def finish_reader(gluster: GlusterLab) -> Reader:
    reader = gluster.reader
    assert reader is not None
    reader.finish()
    assert reader.wrong == [], f"{len(reader.wrong)} of {reader.reads} reads through the mounts were wrong: " \
                               f"{reader.wrong[:3]}"
    return reader


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
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def test_crashed_data_node_comes_back_with_apply(cluster: GlusterLab):
    writers = start_writers(cluster, "crash")
    old_brick = cluster.brick_pid(2)
    node_home = cluster.servers[1].home
    for pid in pids_naming(node_home):  # kill -9 the whole node: glusterd, brick, self-heal daemon
        cluster_kill(pid, signal.SIGKILL)
    progress_after(writers, 2 * PING_TIMEOUT + 5)
    report = status(cluster)
    assert report["exit"] == 1 and any("s2" in r for r in report["degraded"]), report["degraded"]

    cluster.lab.up(storage=3, web=2)  # the lab's stand-in for systemd: glusterd s2 starts again
    result = run_cli("-f", str(cluster.fleet_file), "apply")
    assert result.code == 0, result.err
    new_brick = cluster.brick_pid(2)
    assert new_brick != old_brick and Path(f"/proc/{new_brick}").exists(), result.out + result.err

    # A brick that dies on its own (glusterd stays): plan shows it, apply restarts it and checks the
    # new process really runs (`volume start force` can report success and start nothing).
    cluster_kill(new_brick, signal.SIGKILL)
    wait_until(lambda: "bricks" in run_cli("-f", str(cluster.fleet_file), "plan").out, 30, "plan to see the brick")
    plan = run_cli("-f", str(cluster.fleet_file), "plan", "--json").json()
    assert [a["target"] for a in plan["actions"]] == ["volume web bricks"], plan
    result = run_cli("-f", str(cluster.fleet_file), "apply")
    assert result.code == 0, result.err
    assert cluster.brick_pid(2) not in (0, new_brick)
    recover_and_check(cluster, writers)


def test_rolling_restart_of_every_storage_node_loses_no_write(cluster: GlusterLab):
    writers = start_writers(cluster, "roll")
    before = [cluster.brick_pid(i) for i in (1, 2, 3)]
    result = run_cli("-f", str(cluster.fleet_file), "storage", "restart", "--rolling", "--settle-timeout", "180")
    assert result.code == 0, result.err
    after = [cluster.brick_pid(i) for i in (1, 2, 3)]
    assert all(a != b for a, b in zip(after, before, strict=True)), "every brick got a new process"
    recover_and_check(cluster, writers)


def test_two_of_three_nodes_down_refuses_writes_cleanly_and_never_splits_brain(cluster: GlusterLab):
    writers = start_writers(cluster, "quorum")
    acked_before = [dict(w.acked) for w in writers]
    for index in (1, 2):  # both data bricks; only the arbiter is left
        cluster_kill(cluster.brick_pid(index), signal.SIGKILL)
    wait_until(lambda: all(len(w.failed) >= 3 for w in writers), 60, "writes to be refused")
    report = status(cluster)
    assert report["exit"] == 1 and sum("offline" in r for r in report["degraded"]) >= 2, report["degraded"]
    for w in writers:
        w.finish()
    errors = {e for w in writers for e in w.failed.values()}
    assert errors <= {"OSError: Transport endpoint is not connected", "OSError: Read-only file system",
                      "OSError: Input/output error"}, errors
    result = run_cli("-f", str(cluster.fleet_file), "apply")  # restarts the bricks
    assert result.code == 0, result.err
    cluster.wait_healed(HEAL_LIMIT)
    # Nothing half-written: a refused file is absent, empty or whole, through every web node's mount
    # and on every data brick; never a torn copy. (A rename in flight when the bricks died can have
    # reached a brick whole although the writer saw an error: the name then holds every byte.)
    for w in writers:
        for name in w.failed:
            places = [cluster.site_dir(n) / name for n in (1, 2)]
            places += [brick / "files" / DOMAIN / name for brick in cluster.data_bricks()]
            for path in places:
                assert refused_file_is_clean(path, w.failed_digests[name], in_place=not w.rename), \
                    f"{name} torn at {path}"
    summary = cluster.cli_any().heal_summary("web")
    assert [s.split_brain for s in summary] == [0, 0, 0]
    for w, before in zip(writers, acked_before, strict=True):
        assert set(before) <= set(w.acked)
    finish_reader(cluster)
    assert cluster.check_replicas(writers) > 0
