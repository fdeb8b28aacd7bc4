"""GlusterFS's own TLS on the I/O path (`storage.tls`): a volume that apply creates with it speaks
TLS on every brick port, the web nodes' mounts read and write through it, and a client without the
certificate gets nothing."""

from __future__ import annotations

import json
import re
import subprocess

from gluster_helpers import GlusterLab

from cargohold.lab.tls import storage_ca
from cargohold.process import read_pid, stop_pid, unmount_all_below
from cargohold.wait import wait_until
from conftest import run_cli


def test_a_tls_volume_serves_the_web_nodes_and_refuses_a_client_without_the_certificate(gluster: GlusterLab, tmp_path):
    certs = storage_ca(gluster.lab.home / "storage-tls")
    data = json.loads(gluster.fleet_file.read_text())
    data["fleet"], data["sites"] = "tlsfleet", []
    data.pop("frontdoor", None)
    data["storage"]["volume"] = "tlsweb"
    data["storage"]["servers"] = [{**s, "brick": s["brick"].replace("/web", "/tlsweb")}
                                  for s in data["storage"]["servers"]]
    data["storage"]["tls"] = {"ca": str(certs / "ca.pem"), "cert": str(certs / "cert.pem"),
                              "key": str(certs / "key.pem"), "allow": ["cargohold-storage"]}
    for node in data["nodes"]:
        node["storage_root"] = node["storage_root"].replace("/storage", "/tlsweb")
        node["state_dir"] = node["state_dir"] + "/tlsweb"
    path = gluster.lab.home / "tls.yml"
    path.write_text(json.dumps(data))
    plain = tmp_path / "plain"
    try:
        result = run_cli("-f", str(path), "apply")
        assert result.code == 0, result.err
        assert run_cli("-f", str(path), "plan", "--json").json()["changes"] == 0
        options = gluster.cli.volume_info("tlsweb").options
        assert options["client.ssl"] == "on" and options["server.ssl"] == "on"
        # Through every web node's mount.
        web1, web2 = (gluster.lab.web_home(n) / "tlsweb" for n in (1, 2))
        (web1 / "hello.txt").write_bytes(b"over TLS")
        wait_until(lambda: (web2 / "hello.txt").exists(), 10, "web2 to see the file")
        assert (web2 / "hello.txt").read_bytes() == b"over TLS"
        # Every brick port speaks TLS with the fleet's certificate.
        for port in re.findall(r"<port>(\d+)</port>", gluster.cli.xml("volume", "status", "tlsweb")):
            if port in ("N/A", "0"):
                continue
            shake = subprocess.run(["openssl", "s_client", "-connect", f"{gluster.servers[0].address}:{port}",
                                    "-CAfile", str(certs / "ca.pem"), "-cert", str(certs / "cert.pem"),
                                    "-key", str(certs / "key.pem")], input="", capture_output=True, text=True,
                                   timeout=20)
            if gluster.servers[0].address in shake.stdout or "CONNECTED" in shake.stdout:
                assert "CN = cargohold-storage" in shake.stdout and "Verify return code: 0 (ok)" in shake.stdout
                break
        else:
            raise AssertionError("no brick port of s1 answered")
        # A client that does not speak TLS (as a machine without the certificate) reads nothing.
        plain.mkdir()
        subprocess.run(["glusterfs", f"--volfile-server={gluster.servers[0].address}", "--volfile-id=tlsweb",
                        "--xlator-option=*.transport.socket.ssl-enabled=off", f"--pid-file={tmp_path}/pid",
                        f"--log-file={tmp_path}/log", str(plain)], check=True, timeout=60)
        try:
            (plain / "hello.txt").read_bytes()
            raise AssertionError("a client without TLS read the volume")
        except OSError:
            pass
    finally:
        unmount_all_below(plain)
        pid = read_pid(tmp_path / "pid")
        if pid is not None:
            stop_pid(pid, grace=5)
        gluster.remove_volume("tlsweb")
