"""The lab cleans up after a crashed run and leaves nothing behind on `down`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import docker

from cargohold.lab import Lab
from cargohold.lab.images import ensure_base_image
from cargohold.process import cmdline, mounts_below, pid_alive, read_pid
from cargohold.wait import wait_until
from http_helpers import get

PORT = 21300


def lab_processes(home: Path) -> list[int]:
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return [p for p in pids if str(home) in cmdline(p)]


def test_lab_up_after_a_crash_cleans_up_and_down_leaves_nothing(lab: Lab):
    # `lab` (the session's) must keep running: this test uses a lab of its own beside it.
    crashed = Lab(lab.home.with_name(lab.home.name + "-crash"))
    crashed.up(demo_versions=())
    client = docker.DockerClient(base_url=crashed.engine.url, version="auto", timeout=60)
    ensure_base_image(client)
    client.containers.run(
        "cargohold/debian:bookworm", ["python3", "-m", "http.server", str(PORT), "--bind", "127.0.0.1"],
        detach=True, network_mode="host", name="survivor",
    )
    client.close()
    wait_until(lambda: get(f"http://127.0.0.1:{PORT}/", timeout=1)[0] == 200, 30, "the container to serve")

    pid = read_pid(crashed.engine.pidfile)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 10, "dockerd to die")
    assert get(f"http://127.0.0.1:{PORT}/", timeout=1)[0] == 200, "a killed dockerd leaves its containers running"

    crashed.up(demo_versions=())  # must clean up the crashed run first
    assert crashed.engine.running()
    assert get(f"http://127.0.0.1:{PORT}/", timeout=1)[0] == 0, "the crashed run's container must be gone"

    crashed.down()
    assert not crashed.home.exists()
    assert lab_processes(crashed.home) == []
    assert mounts_below(crashed.home) == []
    assert lab.engine.running(), "the other lab is untouched"
