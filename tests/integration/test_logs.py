"""`cargohold logs` against the GlusterFS lab: two instances on two nodes and the front door's access
log, merged in time order; `-f` prints a new request within 2 s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from frontdoor_helpers import request
from gluster_helpers import DOMAIN, GlusterLab

from conftest import run_cli
from http_helpers import get

CLI = str(Path(sys.executable).parent / "cargohold")


def logs(gluster: GlusterLab, *args: str) -> list[dict]:
    result = run_cli("logs", DOMAIN, "--file", str(gluster.fleet_file), "--json", *args)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def test_logs_merge_instances_and_the_access_log_in_time_order(gluster: GlusterLab):
    marker = f"logs-{time.time_ns()}"
    for port in (22000, 22001):  # each instance directly
        assert get(f"http://127.0.0.1:{port}/{marker}-direct")[0] == 404
    assert request("http://127.0.0.1:22050", DOMAIN, "GET", f"/{marker}-door") == 404
    deadline, lines = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        lines = [line for line in logs(gluster, "--since", "5m") if marker in line["line"]]
        sources = {(line["source"], line["node"]) for line in lines}
        if {("instance", "web1"), ("instance", "web2"), ("frontdoor", "")} <= sources:
            break
        time.sleep(0.5)
    sources = {(line["source"], line["node"], line["instance"]) for line in lines}
    assert ("instance", "web1", "1") in sources and ("instance", "web2", "2") in sources, lines
    assert any(src == "frontdoor" and f"{marker}-door" in line["line"] for line in lines for src in [line["source"]])
    times = [line["time"] for line in lines]
    assert times == sorted(times)
    everything = logs(gluster)
    assert [line["time"] for line in everything] == sorted(line["time"] for line in everything)
    only = logs(gluster, "--node", "web2", "--since", "5m")
    assert only and {line["node"] for line in only} == {"web2"}
    bad = run_cli("logs", "nope.example.com", "--file", str(gluster.fleet_file))
    assert bad.code == 2 and "not a site" in bad.err
    assert run_cli("logs", DOMAIN, "--file", str(gluster.fleet_file), "--since", "yesterday").code == 2


def test_logs_follow_prints_a_new_request_within_two_seconds(gluster: GlusterLab):
    proc = subprocess.Popen([CLI, "--file", str(gluster.fleet_file), "logs", DOMAIN, "-f", "--json", "--since", "1m"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[str, float] = {}
    marker = f"follow-{time.time_ns()}"

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if marker in raw:
                seen.setdefault(json.loads(raw)["source"], time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(3)  # the backlog is printed and the streams are following
        sent = time.monotonic()
        assert get(f"http://127.0.0.1:22001/{marker}")[0] == 404
        assert request("http://127.0.0.1:22051", DOMAIN, "GET", f"/{marker}") == 404
        deadline = sent + 5
        while time.monotonic() < deadline and not {"instance", "frontdoor"} <= set(seen):
            time.sleep(0.05)
        assert "instance" in seen and seen["instance"] - sent < 2, (seen, proc.stderr)
        assert "frontdoor" in seen and seen["frontdoor"] - sent < 2, seen
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read() if proc.stderr else ""
