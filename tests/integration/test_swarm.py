"""runtime swarm: sites as Swarm services across three real engines (each a host of its own in a
network namespace), with a real registry, real GlusterFS mounts and real front doors.

Site A (www.example.com) may run on web1 and web2 only (placement label), so it has the issue's
two-node shape; site B (b.example.com) may run anywhere, for node drain on three nodes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from frontdoor_helpers import Poller

from cargohold.lab import Lab
from cargohold.lab.swarm import push_image
from cargohold.nodes.local import LocalExecutor
from cargohold.process import pids_naming, read_pid, stop_pid, unmount_all_below
from cargohold.storage.gluster.cli import GlusterCLI
from cargohold.wait import wait_until
from conftest import run_cli

A, B = "www.example.com", "b.example.com"
VOLUME = "swarm"
DOOR_HTTP = 22150  # web1's front door; web2's is 22151, web3's 22152
PING_TIMEOUT = 5


@dataclass
class SwarmFixture:
    lab: Lab
    fleet_file: Path
    registry: str
    client: docker.DockerClient  # the manager (web1)

    def cli(self, *args: str):
        return run_cli("-f", str(self.fleet_file), *args)

    def door(self, node: int) -> str:
        return f"http://127.0.0.1:{DOOR_HTTP + node - 1}"

    def mount(self, node: int) -> Path:
        return self.lab.swarm.node_home(node) / "storage"

    def tasks(self, site: str) -> list[tuple[int, str, str]]:
        """(slot, node, image) of the tasks Swarm runs (desired and actual state running)."""
        service = f"swarmlab_{site.replace('.', '-')}"
        nodes = {n.id: n.attrs["Description"]["Hostname"] for n in self.client.nodes.list()}
        down = {n.attrs["Description"]["Hostname"] for n in self.client.nodes.list()
                if n.attrs["Status"]["State"] != "ready"}
        out = []
        for t in self.client.services.get(service).tasks(filters={"desired-state": "running"}):
            node = nodes.get(t.get("NodeID", ""), "")
            if t["Status"]["State"] == "running" and node not in down:
                out.append((t["Slot"], node, t["Spec"]["ContainerSpec"]["Image"]))
        return sorted(out)

    def history(self, site: str) -> list[str]:
        """Every task Swarm keeps of the site's service, for failure messages: which instance stopped
        when, and why."""
        nodes = {n.id: n.attrs["Description"]["Hostname"] for n in self.client.nodes.list()}
        service = f"swarmlab_{site.replace('.', '-')}"
        rows = []
        for t in sorted(self.client.services.get(service).tasks(), key=lambda t: t["CreatedAt"]):
            st = t["Status"]
            rows.append(f"{t['Slot']}@{nodes.get(t.get('NodeID', ''), '-')} {t['DesiredState']}/{st['State']} "
                        f"{st['Timestamp'][11:23]} {st.get('Err') or st.get('Message', '')}")
        return rows

    def status(self) -> dict:
        return run_cli("-f", str(self.fleet_file), "status", "--json", "--no-usage").json()


@pytest.fixture(scope="module")
def swarm(lab: Lab) -> Iterator[SwarmFixture]:
    try:
        images = lab.up(storage=3, web=3, swarm=True, write_fleet=False)
    except Exception as exc:  # the lab is required: fail loudly with the reason, never skip
        pytest.fail(f"the swarm lab could not start in {lab.home}: {exc}", pytrace=False)
    registry = lab.swarm.registry.address
    client = docker.DockerClient(base_url=lab.swarm.engine(1).url, version="auto", timeout=60)
    # A version whose health check fails (and says so in X-Version), pushed like any CI build.
    client.images.build(fileobj=io.BytesIO(b"FROM cargohold-demo:2\nENV DEMO_UNHEALTHY=1 DEMO_VERSION=bad\n"),
                        tag="cargohold-demo:bad")
    push_image(client, "cargohold-demo:bad", f"{registry}/cargohold-demo:bad")
    data = json.loads(lab.swarm_fleet_yaml(3, 3, volume=VOLUME).split("\n", 1)[1])
    data["fleet"] = "swarmlab"
    data["frontdoor"].update(http=f"127.0.0.1:{DOOR_HTTP}", https="127.0.0.1:22160", check_interval=0.5)
    for i, node in enumerate(data["nodes"], start=1):
        node.update(frontdoor_http=f"127.0.0.1:{DOOR_HTTP + i - 1}", frontdoor_https=f"127.0.0.1:{22159 + i}")
        if i <= 2:
            node["labels"] = {"pair": "ab"}
    site = data["sites"][0]
    site.update(port=22100, image=images[0])
    # Probes every 0.5 s (deploys follow them), with a timeout this machine keeps under load: each
    # probe is a `runc exec` plus a Python start-up, measured at 1.6-2.5 s wall on 2 cores at load 14
    # during the upload phase; a 2 s timeout made Swarm replace healthy instances mid-test.
    site["health"].update(interval=0.5, timeout=6)
    site["update"] = {"monitor": 2}
    site_b = {**site, "domain": B, "port": 22110, "aliases": [], "update": {"monitor": 2}}
    site["placement"] = {"pair": "ab"}
    data["sites"] = [site, site_b]
    fleet_file = lab.home / "swarm-fleet.yml"
    fleet_file.write_text(json.dumps(data, indent=2))
    fixture = SwarmFixture(lab, fleet_file, registry, client)
    result = fixture.cli("apply")
    if result.code != 0:
        pytest.fail(f"apply of the swarm lab failed: {result.err}", pytrace=False)
    yield fixture
    client.close()


def assert_uploads_stored(swarm: SwarmFixture, *pollers: Poller, site: str = A) -> int:
    """Every acknowledged upload reads back exactly through every web node's mount, and over HTTP
    from every instance of the site, each asked directly on its own node (what a visitor gets
    whichever instance the front door picks)."""
    fleet = json.loads(swarm.fleet_file.read_text())
    address = {n["name"]: n["address"] for n in fleet["nodes"]}
    port = next(s["port"] for s in fleet["sites"] if s["domain"] == site)
    instances = [f"http://{address[node]}:{port}" for _, node, _ in swarm.tasks(site)]
    assert len(instances) >= 2, instances
    wrong: list[str] = []
    count = 0
    for poller in pollers:
        for name, body in poller.acked.items():
            for node in (1, 2, 3):
                path = swarm.mount(node) / "files" / site / name
                if not path.exists() or path.stat().st_size != len(body) or path.read_bytes() != body:
                    wrong.append(f"{name} through web{node}'s mount")
            for url in instances:
                got = http_get(url + f"/sites/default/files/{name}", site)
                if got != body:
                    # What the node's mount says of the file (mode, owner, size), for the failure message.
                    node = next(n for n, a in address.items() if url == f"http://{a}:{port}")
                    st = (swarm.mount(int(node.removeprefix("web"))) / "files" / site / name).stat()
                    wrong.append(f"{name} from {url}: {got if isinstance(got, str) else f'{len(got)} bytes'} "
                                 f"(on {node}'s mount: mode {st.st_mode:o} uid {st.st_uid} size {st.st_size})")
            count += 1
    assert wrong == [], f"{len(wrong)} wrong reads of {count} uploads, e.g. {wrong[:4]}; tasks: {swarm.history(site)}"
    return count


def http_get(url: str, host: str) -> bytes | str:
    """The body, or what went wrong (an HTTP status with its body, or the connection's error)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=30) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.read()[:80]!r}"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_two_instances_on_two_nodes_and_an_upload_through_one_door_is_served_by_another(swarm: SwarmFixture):
    tasks = swarm.tasks(A)
    assert len(tasks) == 2 and {node for _, node, _ in tasks} == {"web1", "web2"}, tasks
    assert len({node for _, node, _ in swarm.tasks(B)}) == 2
    body = os.urandom(1000)
    req = urllib.request.Request(swarm.door(1) + "/upload/via-web1.bin", data=body, method="POST",
                                 headers={"Host": A})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
    req = urllib.request.Request(swarm.door(2) + "/sites/default/files/via-web1.bin", headers={"Host": A})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read() == body
    # Every node's mount sees it: it is on the replicated volume, not on a node.
    assert all((swarm.mount(i) / "files" / A / "via-web1.bin").read_bytes() == body for i in (1, 2, 3))
    plan = swarm.cli("plan", "--json").json()
    assert plan["actions"] == [], plan["actions"]
    status = swarm.cli("status", "--no-usage")
    assert status.code == 0, status.out + status.err
    assert "2 / 2" in status.out


def test_logs_read_every_nodes_task_containers_and_the_access_log(swarm: SwarmFixture):
    marker = f"swarm-logs-{time.time_ns()}"
    req = urllib.request.Request(swarm.door(2) + f"/{marker}", headers={"Host": A})
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(req, timeout=10)
    deadline, lines = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        result = swarm.cli("logs", A, "--json")
        assert result.code == 0, result.err
        lines = [json.loads(line) for line in result.out.splitlines()]
        if any(marker in line["line"] for line in lines if line["source"] == "instance") and \
                any(marker in line["line"] for line in lines if line["source"] == "frontdoor"):
            break
        time.sleep(0.5)
    instances = {(line["node"], line["instance"]) for line in lines if line["source"] == "instance"}
    assert {node for node, _ in instances} >= {"web1", "web2"} and {"1", "2"} <= {i for _, i in instances}, instances
    assert any(marker in line["line"] for line in lines if line["source"] == "frontdoor"), lines[-5:]
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)


def test_deploy_rolls_out_with_zero_failed_requests_and_a_failing_image_is_rolled_back(swarm: SwarmFixture):
    v2, bad = f"{swarm.registry}/cargohold-demo:2", f"{swarm.registry}/cargohold-demo:bad"
    with Poller(swarm.door(1), A, uploads=True) as p1, Poller(swarm.door(2), A, uploads=True) as p2:
        result = swarm.cli("deploy", A, v2)
        time.sleep(1)
    assert result.code == 0, result.err
    assert {image for _, _, image in swarm.tasks(A)} == {v2}
    assert p1.failed == [] and p2.failed == [], (p1.failed, p2.failed, swarm.history(A))
    assert {"1", "2"} >= p1.versions | p2.versions
    assert assert_uploads_stored(swarm, p1, p2) > 10, swarm.history(A)

    with Poller(swarm.door(1), A) as p1, Poller(swarm.door(2), A) as p2:
        result = swarm.cli("deploy", A, bad)
        time.sleep(1)
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "rolled back" in errors[0] and "health check /healthz" in errors[0], result.err
    assert json.loads(swarm.fleet_file.read_text())["sites"][0]["image"] == v2
    assert {image for _, _, image in swarm.tasks(A)} == {v2}
    # The old version served throughout: no failed request, and the failing one never answered.
    assert p1.failed == [] and p2.failed == [], (p1.failed, p2.failed)
    assert p1.versions | p2.versions == {"2"}
    assert swarm.cli("plan", "--json").json()["actions"] == []


def test_deploy_build_pushes_to_the_registry_and_every_node_runs_it(swarm: SwarmFixture, tmp_path: Path):
    """Swarm's path of `deploy --build`: built once on a node's engine, pushed to the registry the
    site's image names, pulled by the nodes Swarm places the instances on."""
    original = json.loads(swarm.fleet_file.read_text())["sites"][1]["image"]
    (tmp_path / "Dockerfile").write_text(f"FROM {original}\nENV DEMO_VERSION=built\n")
    result = swarm.cli("deploy", B, "--build", str(tmp_path), "--tag", "built-1")
    assert result.code == 0, result.err
    ref = f"{swarm.registry}/cargohold-demo:built-1"
    assert f"pushing {ref}" in result.err and f"deployed {ref}" in result.out
    tasks = swarm.tasks(B)
    assert len(tasks) == 2 and {image for _, _, image in tasks} == {ref}, tasks
    assert len({node for _, node, _ in tasks}) == 2
    for door in (1, 2, 3):
        body = http_get(swarm.door(door) + "/", B)
        assert isinstance(body, bytes) and b"version built" in body, body
    back = swarm.cli("deploy", B, original)
    assert back.code == 0, back.err


def test_scale_up_and_down_under_load_with_zero_failed_requests(swarm: SwarmFixture):
    """`cargohold scale`: B (may run anywhere) from 2 to 3 instances under uploads, and back to 2
    under reads, through two front doors each; every instance serves every acknowledged upload."""
    assert len(swarm.tasks(B)) == 2
    with Poller(swarm.door(1), B, uploads=True) as p1, Poller(swarm.door(3), B, uploads=True) as p3:
        result = swarm.cli("scale", B, "3")
        time.sleep(1)
    assert result.code == 0, result.err
    assert f"{B}: 3 instances (was 2), every one healthy" in result.out
    tasks = swarm.tasks(B)
    assert len(tasks) == 3 and {n for _, n, _ in tasks} == {"web1", "web2", "web3"}, tasks
    assert p1.failed == [] and p3.failed == [], (p1.failed, p3.failed, swarm.history(B))
    assert assert_uploads_stored(swarm, p1, p3, site=B) > 5
    assert json.loads(swarm.fleet_file.read_text())["sites"][1]["instances"] == 3
    assert swarm.cli("plan", "--json").json()["actions"] == []
    uploaded = (p1, p3)
    # Down again under reads through two doors (uploads during a scale-down: docs/swarm.md); what
    # was uploaded before is still there, through every mount and from both remaining instances.
    with Poller(swarm.door(1), B) as p1, Poller(swarm.door(2), B) as p2:
        result = swarm.cli("scale", B, "2")
        time.sleep(1)
    assert result.code == 0, result.err
    assert len(swarm.tasks(B)) == 2
    assert p1.failed == [] and p2.failed == [], (p1.failed, p2.failed, swarm.history(B))
    assert p1.ok > 10 and p2.ok > 10
    assert assert_uploads_stored(swarm, *uploaded, site=B) > 5
    # Bad input: exit 2, the file as it was.
    before = swarm.fleet_file.read_text()
    assert swarm.cli("scale", B, "4").code == 2 and swarm.cli("scale", B, "1").code == 2
    assert swarm.fleet_file.read_text() == before


def test_node_drain_moves_instances_with_zero_failed_requests(swarm: SwarmFixture):
    node = next(node for _, node, _ in swarm.tasks(B))
    with Poller(swarm.door(1), B, uploads=True) as p1, Poller(swarm.door(3), B, uploads=True) as p3:
        result = swarm.cli("node", "drain", node)
        time.sleep(1)
    assert result.code == 0, result.err
    assert p1.failed == [] and p3.failed == [], (p1.failed, p3.failed)
    assert assert_uploads_stored(swarm, p1, p3, site=B) > 10
    tasks = swarm.tasks(B)
    assert len(tasks) == 2 and node not in {n for _, n, _ in tasks}, tasks
    assert all(n != node for _, n, _ in swarm.tasks(A))
    status = swarm.status()
    assert f"node {node}: drain (no instances until `cargohold node undrain`)" in status["degraded"]
    result = swarm.cli("node", "undrain", node)
    assert result.code == 0, result.err
    # Site A (web1 and web2 only) had to shrink if its node was drained; it comes back by itself.
    wait_until(lambda: len(swarm.tasks(A)) == 2, 60, "site A back at 2 instances")
    # ... and is clean once the front doors' own checks have the new instance UP (rise).
    wait_until(lambda: swarm.cli("status", "--no-usage").code == 0, 15, "status to be clean again")


def test_a_node_whose_storage_is_gone_gets_no_instances(swarm: SwarmFixture):
    mountpoint = swarm.mount(2)
    unmount_all_below(mountpoint)
    for pid in pids_naming(mountpoint):  # the FUSE client does not always exit on umount
        stop_pid(pid, grace=5)
    try:
        # No cargohold command runs: the instance's health check sees its storage gone, Swarm
        # replaces it, and the replacement cannot land on web2 (its bind source is missing there).
        wait_until(lambda: [n for _, n, _ in swarm.tasks(A)] == ["web1"], 60, "site A only on web1")
        status = swarm.status()
        assert any(r.startswith(f"node web2: excluded: storage at {mountpoint}") for r in status["degraded"]), status
        assert f"site {A}: 1 of 2 instances running" in status["degraded"]
        # The mount point cannot be mounted (a file sits there): apply takes web2's storage label
        # away first, then fails on the mount.
        mountpoint.rmdir()
        mountpoint.write_text("not a directory")
        result = swarm.cli("apply")
        assert result.code == 1 and "web2" in result.err
        assert "cargohold.storage.swarmlab" not in swarm.client.nodes.get("web2").attrs["Spec"]["Labels"]
        time.sleep(3)  # Swarm keeps trying to place it: nothing may land on web2
        assert [n for _, n, _ in swarm.tasks(A)] == ["web1"]
    finally:
        if mountpoint.is_file():
            mountpoint.unlink()
    result = swarm.cli("apply")  # mounts web2 again, checks it, gives the label back
    assert result.code == 0, result.err
    wait_until(lambda: sorted(n for _, n, _ in swarm.tasks(A)) == ["web1", "web2"], 60, "site A back on web2")
    wait_until(lambda: swarm.cli("status", "--no-usage").code == 0, 15, "status to be clean again")


def test_a_killed_node_costs_no_request_and_its_instance_comes_back_by_itself(swarm: SwarmFixture):
    assert sorted(n for _, n, _ in swarm.tasks(A)) == ["web1", "web2"]
    engine = swarm.lab.swarm.engine(2)
    with Poller(swarm.door(1), A, workers=4) as poller:
        killed = time.monotonic()
        engine.kill()

        asked: list[float] = []

        def reported() -> bool:  # when the status that reports it was asked (its own run time aside)
            asked.append(time.monotonic())
            return any(r.startswith("node web2:") for r in swarm.status()["degraded"])

        wait_until(reported, 15, "status to report web2", interval=0.1)
        seen_after = asked[-1] - killed
        time.sleep(3)
    assert seen_after <= 5, f"status reported the lost node after {seen_after:.1f}s"
    assert poller.failed == [], poller.failed
    assert [n for _, n, _ in swarm.tasks(A)] == ["web1"]
    engine.start()  # the machine is back; no cargohold command runs
    wait_until(lambda: sorted(n for _, n, _ in swarm.tasks(A)) == ["web1", "web2"], 90,
               "site A back on web1 and web2")
    wait_until(lambda: swarm.cli("status", "--no-usage").code == 0, 30, "status to be clean again")


def test_a_hung_storage_node_pauses_uploads_on_both_web_nodes_but_loses_none(swarm: SwarmFixture):
    server = swarm.lab.glusterd(2)
    cli = GlusterCLI(LocalExecutor("s1"), str(swarm.lab.glusterd(1).socket), timeout=20)
    brick = next(b.pid for b in cli.volume_status(VOLUME) if b.path.startswith(str(server.brick_root)))
    glusterd = read_pid(server.pidfile)
    assert glusterd is not None
    with Poller(swarm.door(1), A, uploads=True) as p1, Poller(swarm.door(2), A, uploads=True) as p2:
        time.sleep(1)
        for pid in (brick, glusterd):
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(2 * PING_TIMEOUT + 2)
        finally:
            for pid in (brick, glusterd):
                os.kill(pid, signal.SIGCONT)
        time.sleep(3)
    assert p1.failed == [] and p2.failed == [], (p1.failed, p2.failed)
    assert assert_uploads_stored(swarm, p1, p2) > 10
    wait_until(lambda: sum(cli.heal_count(VOLUME).values()) == 0, 120, "heal backlog to reach zero", interval=1)


def test_apply_joins_a_node_that_left_the_swarm_and_labels_it_again(swarm: SwarmFixture):
    web3 = docker.DockerClient(base_url=swarm.lab.swarm.engine(3).url, version="auto", timeout=60)
    try:
        web3.swarm.leave(force=True)
    finally:
        web3.close()

    def web3_down() -> bool:
        return any(n.attrs["Description"]["Hostname"] == "web3" and n.attrs["Status"]["State"] != "ready"
                   for n in swarm.client.nodes.list())

    wait_until(web3_down, 30, "the manager to see web3 gone", interval=0.2)
    plan = swarm.cli("plan", "--json").json()
    kinds = {(a["kind"], a["target"]) for a in plan["actions"]}
    assert {("create", "swarm node web3"), ("update", "swarm node web3 labels")} <= kinds, plan["actions"]
    result = swarm.cli("apply")
    assert result.code == 0, result.err
    entries = [n for n in swarm.client.nodes.list() if n.attrs["Description"]["Hostname"] == "web3"]
    assert [n.attrs["Status"]["State"] for n in entries] == ["ready"]  # the old entry is gone
    assert entries[0].attrs["Spec"]["Labels"].get("cargohold.storage.swarmlab") == "ok"
    assert swarm.cli("plan", "--json").json()["actions"] == []
    wait_until(lambda: len(swarm.tasks(B)) == 2, 60, "site B at 2 instances")


def test_apply_creates_the_swarm_from_engines_in_none(swarm: SwarmFixture):
    for i in (3, 2, 1):  # every engine leaves: there is no swarm any more, and no service
        client = docker.DockerClient(base_url=swarm.lab.swarm.engine(i).url, version="auto", timeout=60)
        try:
            client.swarm.leave(force=True)
        finally:
            client.close()
    plan = swarm.cli("plan", "--json").json()
    targets = [a["target"] for a in plan["actions"]]
    assert targets[:3] == ["swarm web1", "swarm node web2", "swarm node web3"], targets
    assert {f"service {A}", f"service {B}"} <= set(targets)
    result = swarm.cli("apply")
    assert result.code == 0, result.err
    assert sorted(n.attrs["Description"]["Hostname"] for n in swarm.client.nodes.list()) == ["web1", "web2", "web3"]
    assert sorted(n for _, n, _ in swarm.tasks(A)) == ["web1", "web2"]
    assert len(swarm.tasks(B)) == 2
    assert swarm.cli("plan", "--json").json()["actions"] == []
    wait_until(lambda: swarm.cli("status", "--no-usage").code == 0, 30, "status to be clean")
