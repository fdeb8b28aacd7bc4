"""runtime swarm on machines that share only the network with cargohold: three isolated web nodes
(engines over TLS, host work over SSH) in a swarm cargohold creates, three storage servers over SSH,
a registry on a host of its own, a front door on every node. Under uploads through two front doors:
a rolling deploy, a node drain, and the SIGKILL of a whole node cost no request, and every
acknowledged upload reads back from every remaining instance and through every remaining mount."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from frontdoor_helpers import Poller

from cargohold.lab import Lab
from cargohold.lab.isolated import IsolatedLab
from cargohold.model import SSHAccess
from cargohold.nodes.base import executor_for
from cargohold.wait import wait_until
from conftest import CliResult, run_cli
from http_helpers import http

DOMAIN = "swarm-iso.example.com"
PORT = 24000
DOOR = 8080
ROOT = "/srv/swarm-storage"


@dataclass
class SwarmIso:
    iso: IsolatedLab
    path: Path
    images: list[str]

    def cli(self, *args: str) -> CliResult:
        return run_cli("-f", str(self.path), *args)

    def door(self, index: int) -> str:
        return f"http://{self.iso.node(index).address}:{DOOR}"

    def serving(self) -> list[str]:
        """The nodes whose instance runs, as status reports them."""
        result = self.cli("status", "--json")
        assert result.out.startswith("{"), result.out[-500:] + result.err[-1500:]
        report = result.json()
        return sorted({i["node"] for i in report["instances"] if i["site"] == DOMAIN and i["state"] == "running"})

    def sha256_on(self, index: int, relpath: str) -> str | None:
        node = self.iso.node(index)
        ex = executor_for(node.name, SSHAccess(node.ssh_target, str(self.iso.known_hosts), str(self.iso.client_key)))
        result = ex.run(["sha256sum", f"{ROOT}/{relpath}"], 20)
        return result.stdout.split()[0] if result.ok else None


@pytest.fixture(scope="module")
def swarm_iso(lab: Lab, isolated: IsolatedLab) -> Iterator[SwarmIso]:
    try:
        isolated.up(3, ("1",), storage=3)
        images = isolated.push_demo_images(("1", "2"))
    except Exception as exc:
        pytest.fail(f"the isolated swarm lab could not start: {exc}", pytrace=False)
    data = isolated.fleet(3, 3, "isoswarm", isolated.home / "admin-swarm" / "storage", swarm=True)
    storage = data["storage"]
    assert isinstance(storage, dict)
    # Beside the docker-runtime fleet of test_isolated_fleet on the same machines: a volume, a root,
    # a state directory and front-door ports of its own.
    storage.update(volume="swarmiso", root=ROOT)
    for server in storage["servers"]:
        server["brick"] = "/srv/bricks/swarmiso"
    for node in data["nodes"]:  # type: ignore[attr-defined]
        node["state_dir"] = "/srv/cargohold-swarm"
    data["frontdoor"] = {"http": f"*:{DOOR}", "check_interval": 0.5}
    data["sites"] = [{
        "domain": DOMAIN, "image": images[0], "port": PORT, "instances": 2, "app_root": "/var/www",
        "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo",
        "health": {"http": "/healthz", "interval": 0.5, "timeout": 6, "retries": 3}, "update": {"monitor": 2},
    }]
    path = isolated.home / "iso-swarm.yml"
    path.write_text(json.dumps(data))
    fixture = SwarmIso(isolated, path, images)
    result = fixture.cli("apply")
    if result.code != 0:
        pytest.fail(f"apply of the isolated swarm failed: {result.out[-2000:]} {result.err}", pytrace=False)
    yield fixture


def test_swarm_on_isolated_machines_deploy_drain_and_a_dead_node_cost_no_request(swarm_iso: SwarmIso):
    s = swarm_iso
    assert s.cli("plan", "--json").json()["changes"] == 0
    assert len(s.serving()) == 2
    with Poller(s.door(1), DOMAIN, uploads=True) as p1, Poller(s.door(2), DOMAIN, uploads=True) as p2:
        deployed = s.cli("deploy", DOMAIN, s.images[1])
        assert deployed.code == 0, deployed.out + deployed.err
        drained_node = s.serving()[0]
        drained = s.cli("node", "drain", drained_node)
        assert drained.code == 0, drained.out + drained.err
        assert drained_node not in s.serving()
        assert s.cli("node", "undrain", drained_node).code == 0
        time.sleep(1)
    assert p1.failed == [] and p2.failed == [], (p1.failed[:5], p2.failed[:5])
    assert {"2"} <= p1.versions | p2.versions
    # A whole node dies (not one whose door the clients use), under uploads and reads: requests go to
    # the other instance. The one request a client may lose is an upload already sent to the dying
    # machine when it died (HAProxy never resends a POST: it may have been written); every request
    # sent after the kill succeeds. The drain above moved an instance to web3 (the drained node was
    # web1 or web2).
    victim = "web3"
    assert victim in s.serving()
    with Poller(s.door(1), DOMAIN, uploads=True) as g1, Poller(s.door(2), DOMAIN, uploads=True) as g2:
        time.sleep(1)
        s.iso.node(3).kill()
        killed = time.monotonic()
        wait_until(lambda: len([n for n in s.serving() if n != victim]) == 2, 90,
                   "the site back at 2 instances on the nodes left")
        seen = time.monotonic() - killed
        time.sleep(1)
    for g in (g1, g2):
        lost = list(zip(g.failed_started, g.failed, strict=True))
        assert all(what.startswith("POST") and started < killed for started, what in lost), lost
        assert len(lost) <= g.workers, lost  # at most the one upload in flight per client
    assert g1.ok > 20 and g2.ok > 20
    print(f"lost at the kill: {g1.failed + g2.failed}")
    acked = {**p1.acked, **p2.acked, **g1.acked, **g2.acked}
    assert len(acked) > 20
    left = [n for n in s.serving() if n != victim]
    assert len(left) == 2, left
    addresses = {f"web{i}": s.iso.node(i).address for i in (1, 2, 3)}
    wrong = []
    for name, body in acked.items():
        want = hashlib.sha256(body).hexdigest()
        for node in left:  # over HTTP from every remaining instance, asked on its own node
            code, got, _ = http("GET", f"http://{addresses[node]}:{PORT}/sites/default/files/{name}",
                                headers={"Host": DOMAIN})
            if code != 200 or hashlib.sha256(got).hexdigest() != want:
                wrong.append(f"{name} from {node}: {code}")
        for index in (i for i in (1, 2, 3) if f"web{i}" != victim):  # through every remaining mount
            if s.sha256_on(index, f"files/{DOMAIN}/{name}") != want:
                wrong.append(f"{name} through web{index}'s mount")
    assert wrong == [], wrong[:10]
    print(f"site back at 2 instances {seen:.1f} s after the kill")
    # The node back (a reboot: no storage mount): one apply mounts it and labels it again.
    s.iso.up(3, ("1",), storage=3)
    again = s.cli("apply")
    assert again.code == 0, again.out + again.err
    wait_until(lambda: s.cli("plan", "--json").json()["changes"] == 0, 60, "the fleet converged again")
