"""Isolated lab nodes: each shares only the network with cargohold. Its own mounts (a /srv no one
else sees), host name, sshd (known host keys only) and an engine reachable only over TLS; killing it
kills everything in it at once."""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from cargohold.errors import RuntimeFailure
from cargohold.lab.isolated import IsolatedLab, IsolatedNode
from cargohold.model import SSHAccess, TLSFiles
from cargohold.nodes.base import close_all, executor_for
from cargohold.nodes.ssh import SSHExecutor
from cargohold.runtime.engines import Engines


def access(iso: IsolatedLab, node: IsolatedNode) -> SSHAccess:
    return SSHAccess(node.ssh_target, str(iso.known_hosts), str(iso.client_key))


def engines(node: IsolatedNode) -> Engines:
    tls = node.engine.tls_dir
    return Engines({node.name: node.engine_url},
                   tls={node.name: TLSFiles(str(tls / "ca.pem"), str(tls / "cert.pem"), str(tls / "key.pem"))})


def on_host_mounts() -> str:
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        return fh.read()


def test_each_node_has_mounts_and_a_host_name_of_its_own(isolated: IsolatedLab):
    web1, web2 = isolated.node(1), isolated.node(2)
    one, two = executor_for("web1", access(isolated, web1)), executor_for("web2", access(isolated, web2))
    assert one.run(["hostname"], 10).stdout.strip() == "web1"
    assert two.run(["hostname"], 10).stdout.strip() == "web2"
    assert one.run(["sh", "-c", "echo only-on-web1 > /srv/mine"], 10).ok
    assert one.read_file("/srv/mine") == "only-on-web1\n"
    assert two.read_file("/srv/mine") is None  # web2's /srv is its own
    assert not os.path.exists("/srv/mine")  # and this machine's is untouched
    assert " /srv " in (one.read_file("/proc/mounts") or "")
    assert " /srv " not in on_host_mounts()


def test_the_engine_answers_only_over_tls_with_the_lab_certificates(isolated: IsolatedLab):
    node = isolated.node(1)
    runtime = engines(node)
    try:
        assert runtime.client("web1").info()["Name"] == "web1"
    finally:
        runtime.close()
    base = f"{node.address}:2376"
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://{base}/version", timeout=5).read()
    context = ssl.create_default_context(cafile=str(node.engine.tls_dir / "ca.pem"))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):  # no client certificate
        urllib.request.urlopen(f"https://{base}/version", timeout=5, context=context).read()
    assert not list(node.home.rglob("*.sock")), "an isolated node's sockets are seen only inside it"


def test_unknown_and_changed_host_keys_are_refused(isolated: IsolatedLab, tmp_path):
    web1, web2 = isolated.node(1), isolated.node(2)
    key = str(isolated.client_key)
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(RuntimeFailure, match=r"web1: ssh root@10\.99\.\d+\.11:22: host key unknown"):
        SSHExecutor("web1", web1.ssh_target, known_hosts=str(empty), key_file=key).run(["true"], 10)
    # web2's key written down for web1's address: a machine that is not the one we know.
    swapped = tmp_path / "swapped"
    key = web2.sshd.host_key.with_suffix(".pub").read_text().split()[:2]
    swapped.write_text(f"{web1.address} {key[0]} {key[1]}\n")
    with pytest.raises(RuntimeFailure, match="host key is not the one in"):
        SSHExecutor("web1", web1.ssh_target, known_hosts=str(swapped), key_file=key).run(["true"], 10)


def test_one_connection_per_node_however_many_callers(isolated: IsolatedLab):
    node = isolated.node(2)
    first = executor_for("web2", access(isolated, node))
    assert executor_for("web2", access(isolated, node)) is first
    assert isinstance(first, SSHExecutor)
    before = first.connections
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: first.run(["hostname"], 10), range(24)))
    assert all(r.stdout.strip() == "web2" for r in results)
    assert first.connections - before <= 1


def test_killing_a_node_kills_its_engine_containers_sshd_and_mounts_at_once(isolated: IsolatedLab):
    node = isolated.node(2)
    runtime = engines(node)
    try:
        client = runtime.client("web2")
        client.containers.run("cargohold-demo:1", name="iso-kill", detach=True, network_mode="host",
                              environment={"PORT": "18777", "SITE": "kill.example.com"}, remove=True)
        from cargohold.wait import wait_until

        wait_until(lambda: _get(f"http://{node.address}:18777/healthz") == 200, 30, "the instance on web2")
    finally:
        runtime.close()
    executor = executor_for("web2", access(isolated, node))
    assert executor.run(["sh", "-c", "mount -t tmpfs kill-test /srv/m 2>/dev/null || "
                                     "(mkdir -p /srv/m && mount -t tmpfs kill-test /srv/m)"], 10).ok
    assert node.pids(), "the node runs processes"
    node.kill()
    assert node.pids() == []
    assert _get(f"http://{node.address}:18777/healthz") is None
    with pytest.raises(RuntimeFailure):
        executor.run(["true"], 5)
    assert "kill-test" not in on_host_mounts()
    # Back, as after a reboot: its disk kept, its mounts gone, engine and sshd answering. (A node
    # that did not answer is not asked again within one command: a new command starts afresh.)
    isolated.up(2, ("1",), storage=3)
    close_all()
    again = executor_for("web2", access(isolated, node))
    assert again.run(["hostname"], 10).stdout.strip() == "web2"
    assert "kill-test" not in (again.read_file("/proc/mounts") or "")
    assert again.run(["sh", "-c", "echo on-disk > /srv/kept"], 10).ok
    node.kill()
    isolated.up(2, ("1",), storage=3)
    close_all()
    assert executor_for("web2", access(isolated, node)).read_file("/srv/kept") == "on-disk\n"


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def test_the_local_backend_asks_a_remote_node_itself_whether_its_root_is_the_fleets(isolated: IsolatedLab, tmp_path):
    """storage.backend local with a node over SSH: the guard reads the node's root on the node
    (this machine has no /srv/local-root at all)."""
    import json

    from cargohold.backends import connect
    from cargohold.fleet.load import load_fleet

    node = isolated.node(1)
    ca = isolated.ca_dir
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({
        "fleet": "isolocal",
        "engine_tls": {"ca": str(ca / "ca.pem"), "cert": str(ca / "cert.pem"), "key": str(ca / "key.pem")},
        "ssh": {"known_hosts": str(isolated.known_hosts), "identity": str(isolated.client_key)},
        "storage": {"backend": "local", "root": "/srv/local-root", "mount": False},
        "nodes": [{"name": "web1", "engine": node.engine_url, "address": node.address, "ssh": node.ssh_target}],
    }))
    on_node = executor_for("web1", access(isolated, node))
    assert on_node.run(["rm", "-rf", "/srv/local-root"], 10).ok
    assert not os.path.exists("/srv/local-root")

    def check() -> tuple[bool, str]:
        backends = connect(load_fleet(path))
        try:
            state = backends.storage.check_node("web1", "isolocal")
        finally:
            backends.close()
        return state.ok, state.reason

    assert check() == (False, "does not exist or is not a directory (is the storage mounted?)")
    assert on_node.run(["mkdir", "-p", "/srv/local-root"], 10).ok
    assert check()[1].startswith("no .cargohold-fleet.json marker")
    on_node.write_file("/srv/local-root/.cargohold-fleet.json", b'{"fleet": "another"}')
    assert check() == (False, "marker says fleet 'another', not 'isolocal'")
    on_node.write_file("/srv/local-root/.cargohold-fleet.json", b'{"fleet": "isolocal"}')
    assert check() == (True, "")
