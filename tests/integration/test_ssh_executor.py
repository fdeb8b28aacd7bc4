"""The SSH executor against a real sshd (the lab's own, on loopback): commands, host-key checking,
timeouts, and a real `gluster` call through it."""

from __future__ import annotations

import pytest
from gluster_helpers import GlusterLab

from cargohold.errors import RuntimeFailure
from cargohold.lab.sshd import LabSSHD
from cargohold.nodes.ssh import SSHExecutor
from cargohold.storage.gluster.cli import GlusterCLI


@pytest.fixture(scope="module")
def sshd(gluster: GlusterLab):
    server = LabSSHD(gluster.lab.home / "sshd")
    server.start()
    yield server
    server.stop()


def executor(sshd: LabSSHD, known_hosts: str | None = None) -> SSHExecutor:
    return SSHExecutor("s", sshd.target, known_hosts=known_hosts or str(sshd.known_hosts),
                       key_file=str(sshd.client_key))


def test_runs_commands_and_reads_files(sshd: LabSSHD):
    ex = executor(sshd)
    result = ex.run(["sh", "-c", "echo out; echo err >&2; exit 3"], 10)
    assert (result.code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert ex.run(["printf", "%s", "a b'c"], 10).stdout == "a b'c"  # arguments are quoted, not split
    assert "fuse.glusterfs" in (ex.read_file("/proc/mounts") or "")
    assert ex.read_file("/nonexistent/file") is None
    ex.close()


def test_unknown_host_key_is_refused(sshd: LabSSHD, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(RuntimeFailure, match="host key unknown"):
        executor(sshd, str(empty)).run(["true"], 10)


def test_a_hanging_command_times_out(sshd: LabSSHD):
    with pytest.raises(RuntimeFailure, match="over ssh failed"):
        executor(sshd).run(["sleep", "30"], 1)


def test_gluster_through_ssh(sshd: LabSSHD, gluster: GlusterLab):
    cli = GlusterCLI(executor(sshd), str(gluster.servers[0].socket))
    peers = cli.pool()
    assert {p.hostname for p in peers if p.connected} >= {s.address for s in gluster.servers[1:]}
    info = cli.volume_info("web")
    assert info is not None and info.replica == 3 and info.arbiter == 1
