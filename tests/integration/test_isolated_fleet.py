"""A fleet on machines that share only the network with cargohold: two web nodes (engines over TLS,
host work over SSH) and three GlusterFS servers (reached over SSH), each in namespaces of its own.
What a user would see is checked where a user sees it: through each node's own mount (read on the
node, over SSH) and over HTTP from every instance."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.lab import Lab
from cargohold.lab.isolated import IsolatedLab
from cargohold.model import SSHAccess
from cargohold.nodes.base import executor_for
from cargohold.wait import wait_until
from conftest import CliResult, run_cli
from http_helpers import get, upload

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


@pytest.fixture(scope="module")
def iso_fleet(lab: Lab, isolated: IsolatedLab) -> Iterator[IsoFleet]:
    data = isolated.fleet(2, 3, "isofleet", isolated.home / "admin" / "storage")
    data["sites"] = [{
        "domain": DOMAIN, "image": "cargohold-demo:1", "port": PORT, "instances": 2, "app_root": "/var/www",
        "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo",
        "health": {"http": "/healthz", "interval": 0.5, "timeout": 2, "retries": 3},
    }]
    path = isolated.home / "iso-fleet.yml"
    path.write_text(json.dumps(data))
    yield IsoFleet(isolated, path)


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
    assert status.code == 1 and "web2" in (status.out + status.err)
    code, got, _ = get(f"{fleet.instance_url(1)}/sites/default/files/before-kill.bin")
    assert code == 200 and got == body, "the surviving node keeps serving"

    # Back, as after a reboot: no storage mount, the engine's containers stopped.
    fleet.iso.up(2, ("1",), storage=3)
    plan = fleet.cli("plan")
    assert plan.code == 0 and "mount web2" in plan.out, plan.out + plan.err
    again = fleet.cli("apply")
    assert again.code == 0, again.err
    assert fleet.cli("plan", "--json").json()["changes"] == 0
    assert fleet.node_sha256(2, f"files/{DOMAIN}/before-kill.bin") == hashlib.sha256(body).hexdigest()
    code, got, _ = get(f"{fleet.instance_url(2)}/sites/default/files/before-kill.bin")
    assert code == 200 and got == body, "web2's instance serves what was uploaded before its death"
