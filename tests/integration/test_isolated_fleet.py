"""A fleet on machines that share only the network with cargohold: two web nodes (engines over TLS,
host work over SSH) and three GlusterFS servers (reached over SSH), each in namespaces of its own.
What a user would see is checked where a user sees it: through each node's own mount (read on the
node, over SSH) and over HTTP from every instance."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from frontdoor_helpers import Load, request

from cargohold.lab import Lab
from cargohold.lab.isolated import IsolatedLab
from cargohold.model import SSHAccess
from cargohold.nodes.base import executor_for
from cargohold.wait import wait_until
from conftest import CliResult, run_cli
from http_helpers import get, http, upload

DOMAIN = "iso.example.com"
PORT = 23000


class IsoFleet:
    def __init__(self, iso: IsolatedLab, path: Path) -> None:
        self.iso, self.path = iso, path

    def cli(self, *args: str) -> CliResult:
        return run_cli("-f", str(self.path), *args)

    def node_sha256(self, index: int, relpath: str) -> str | None:
        node = self.iso.node(index)
        ex = executor_for(node.name, SSHAccess(node.ssh_target, str(self.iso.known_hosts), str(self.iso.client_key)))
        result = ex.run(["sha256sum", f"/srv/storage/{relpath}"], 20)
        return result.stdout.split()[0] if result.ok else None

    def instance_url(self, index: int) -> str:
        return f"http://{self.iso.node(index).address}:{PORT + index - 1}"

    def door_url(self, index: int) -> str:
        return f"http://{self.iso.node(index).address}:80"

    def on_node(self, index: int, argv: list[str]) -> str:
        node = self.iso.node(index)
        ex = executor_for(node.name, SSHAccess(node.ssh_target, str(self.iso.known_hosts), str(self.iso.client_key)))
        result = ex.run(argv, 20)
        assert result.ok, result.brief()
        return result.stdout


@pytest.fixture(scope="module")
def iso_fleet(lab: Lab, isolated: IsolatedLab) -> Iterator[IsoFleet]:
    data = isolated.fleet(2, 3, "isofleet", isolated.home / "admin" / "storage")
    data["frontdoor"] = {"http": "*:80", "https": "*:443", "check_interval": 0.5,
                         "certificates": [str(lab.certificate())]}
    data["sites"] = [{
        "domain": DOMAIN, "image": "cargohold-demo:1", "port": PORT, "instances": 2, "app_root": "/var/www",
        "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo",
        "health": {"http": "/healthz", "interval": 0.5, "timeout": 2, "retries": 3},
    }]
    path = isolated.home / "iso-fleet.yml"
    path.write_text(json.dumps(data))
    yield IsoFleet(isolated, path)
    for index in (1, 2):  # the fleet's containers go with the module (the engines restart them otherwise)
        runtime = isolated.node(index).engine.client(timeout=60)
        try:
            for container in runtime.containers.list(all=True, filters={"label": "cargohold.fleet=isofleet"}):
                container.remove(force=True)
        finally:
            runtime.close()


def test_a_fleet_on_isolated_machines_converges_and_serves_every_upload_everywhere(iso_fleet: IsoFleet):
    fleet = iso_fleet
    text = fleet.path.read_text()
    assert "127.0.0.1" not in text and "unix://" not in text, "the fleet names machines as production does"

    applied = fleet.cli("apply")
    assert applied.code == 0, applied.err
    assert fleet.cli("plan", "--json").json()["changes"] == 0

    body = os.urandom(40_000)
    want = hashlib.sha256(body).hexdigest()
    assert upload(fleet.instance_url(1), "iso.bin", body) == 201
    # Through each node's own mount, read on the node itself.
    for index in (1, 2):
        wait_until(lambda i=index: fleet.node_sha256(i, f"files/{DOMAIN}/iso.bin") == want, 10,
                   f"iso.bin through web{index}'s mount")
    # Over HTTP from every instance.
    for index in (1, 2):
        code, got, _ = get(f"{fleet.instance_url(index)}/sites/default/files/iso.bin")
        assert code == 200 and hashlib.sha256(got).hexdigest() == want, f"instance {index}"
    # This machine never had the nodes' storage: their root is a path of the nodes only.
    assert not os.path.exists("/srv/storage")
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        assert " /srv/storage " not in fh.read()


def test_a_killed_node_is_reported_and_one_apply_brings_it_back(iso_fleet: IsoFleet):
    fleet = iso_fleet
    assert fleet.cli("apply").code == 0
    body = os.urandom(10_000)
    assert upload(fleet.instance_url(2), "before-kill.bin", body) == 201
    web2 = fleet.iso.node(2)
    web2.kill()  # engine, containers, sshd, the FUSE client: all at once

    status = fleet.cli("status")
    assert status.code == 1 and "node web2 is unreachable" in status.out, status.out + status.err
    code, got, _ = get(f"{fleet.instance_url(1)}/sites/default/files/before-kill.bin")
    assert code == 200 and got == body, "the surviving node keeps serving"
    # While it is down: plan names it and plans nothing on it; apply changes what it safely can on
    # the others (here: nothing, since the only change, the site's second instance, is web2's)
    # and exits 1; the one instance left is never replaced while it is the last one known to serve.
    plan = fleet.cli("plan", "--json")
    assert plan.code == 1
    report = plan.json()
    assert [u["node"] for u in report["unreachable"]] == ["web2"]
    assert all(a["node"] != "web2" and "web2" not in a["target"] for a in report["actions"]), report
    data = json.loads(fleet.path.read_text())
    data["sites"][0]["env"] = {"CHANGED": "1"}
    fleet.path.write_text(json.dumps(data))
    held = fleet.cli("apply")
    assert held.code == 1 and "waits: every other instance of its site is on an unreachable node" in held.out
    assert "nothing is changed on it" in held.err, held.out + held.err
    code, got, _ = get(f"{fleet.instance_url(1)}/sites/default/files/before-kill.bin")
    assert code == 200 and got == body, "the last instance known to serve was left alone"

    # Back, as after a reboot: no storage mount, the engine's containers stopped.
    fleet.iso.up(2, ("1",), storage=3)
    # Until that apply mounts its storage, nothing on web2 serves: its engine's restart policy cannot
    # start the instance on an unmounted root (a bind mount's source must exist; it is on the volume).
    code, _, _ = get(f"{fleet.instance_url(2)}/healthz")
    assert code == 0, "web2's instance serves before its storage is mounted"
    plan = fleet.cli("plan")
    assert plan.code == 0 and "mount web2" in plan.out, plan.out + plan.err
    again = fleet.cli("apply")
    assert again.code == 0, again.err
    assert fleet.cli("plan", "--json").json()["changes"] == 0
    assert fleet.node_sha256(2, f"files/{DOMAIN}/before-kill.bin") == hashlib.sha256(body).hexdigest()
    code, got, _ = get(f"{fleet.instance_url(2)}/sites/default/files/before-kill.bin")
    assert code == 200 and got == body, "web2's instance serves what was uploaded before its death"


def test_each_node_runs_its_own_front_door_and_a_dead_node_takes_only_its_own(iso_fleet: IsoFleet):
    fleet = iso_fleet
    assert fleet.cli("apply").code == 0
    for index in (1, 2):
        node = fleet.iso.node(index)
        # The door's processes are the node's: in its namespaces, none on this machine's network.
        doors = [p for p in node.pids() if "haproxy" in _cmdline(p)]
        assert doors, f"no HAProxy inside web{index}"
        mode = fleet.on_node(index, ["stat", "-c", "%a %U", "/srv/cargohold/frontdoor/certs/0.pem"]).split()
        assert mode == ["600", "root"], mode
    body = os.urandom(30_000)
    assert request(fleet.door_url(1), DOMAIN, "POST", "/upload/door.bin", body) == 201
    for index in (1, 2):
        code, got = _door_get(fleet.door_url(index), "/sites/default/files/door.bin")
        assert code == 200 and got == body, f"through web{index}'s front door"
    # HTTPS with the copied certificate, SNI for the site.
    context = ssl.create_default_context(cafile=str(Path(fleet.path).parent.parent / "frontdoor" / "example.com.crt"))
    address = fleet.iso.node(2).address
    with socket.create_connection((address, 443), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
        assert tls.recv(100).startswith(b"HTTP/1.1 200")
    # Access log lines reach the site's log area (read on the node, through its mount).
    wait_until(lambda: "door.bin" in fleet.on_node(1, ["cat", f"/srv/storage/logs/{DOMAIN}/frontdoor-access.log"]),
               10, "the access log line on the storage")
    status = fleet.cli("status", "--json")
    assert status.code == 0, status.out + status.err
    report = status.json()
    assert report["frontdoor_down"] == [], status.out
    assert all(set(i["frontdoor"].values()) == {"UP"} and set(i["frontdoor"]) == {"web1", "web2"}
               for i in report["instances"]), status.out

    # web2 dies under load through web1's door: web1's door keeps every request (it retries the
    # dead instance's connections on the live one), and web2's door is gone with its node.
    with Load(fleet.door_url(1), DOMAIN, workers=4, seconds=60) as load:
        wait_until(lambda: load.ok > 30, 20, "load through web1's door")
        fleet.iso.node(2).kill()
        seen = load.ok
        wait_until(lambda: load.ok > seen + 100, 30, "requests after web2's death")
    assert load.failed == [], f"{len(load.failed)} failed of {load.ok + len(load.failed)}: {load.failed[:5]}"
    assert _door_get(fleet.door_url(2), "/healthz")[0] == 0
    fleet.iso.up(2, ("1",), storage=3)
    assert fleet.cli("apply").code == 0
    code, got = _door_get(fleet.door_url(2), "/sites/default/files/door.bin")
    assert code == 200 and got == body, "web2's door is back after one apply"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _door_get(url: str, path: str) -> tuple[int, bytes]:
    code, body, _ = http("GET", url + path, headers={"Host": DOMAIN})
    return code, body


def test_an_unknown_host_key_is_refused_naming_the_host_and_nothing_changes(iso_fleet: IsoFleet, tmp_path):
    fleet = iso_fleet
    assert fleet.cli("apply").code == 0
    data = json.loads(fleet.path.read_text())
    known = Path(data["ssh"]["known_hosts"]).read_text().splitlines()
    web1 = fleet.iso.node(1).address
    partial = tmp_path / "known_hosts"
    partial.write_text("".join(f"{line}\n" for line in known if not line.startswith(f"{web1} ")))
    data["ssh"]["known_hosts"] = str(partial)
    data["sites"][0]["env"] = {"AFTER": "unknown-key"}
    other = tmp_path / "fleet.json"
    other.write_text(json.dumps(data))
    before = fleet.cli("status", "--json").json()["instances"]
    result = run_cli("-f", str(other), "apply")
    assert result.code == 1
    assert f"web1: ssh root@{web1}:22: host key unknown" in result.err, result.out + result.err
    after = fleet.cli("status", "--json").json()["instances"]
    assert [i["container"] for i in after if i["node"] == "web1"] == \
        [i["container"] for i in before if i["node"] == "web1"]
