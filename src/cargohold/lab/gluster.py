"""Several glusterd on this machine, one per loopback alias 127.1.1.N, as GlusterFS's own cluster
tests run them (tests/cluster.rc): each with its own working, run and log directories and socket.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cargohold.errors import RuntimeFailure
from cargohold.nodes.local import LocalExecutor
from cargohold.process import pid_alive, pids_naming, read_pid, spawn, stop_pid, unmount_all_below
from cargohold.storage.gluster.cli import GlusterCLI
from cargohold.wait import Timeout, wait_until


@dataclass(frozen=True)
class LabGlusterd:
    home: Path  # <lab>/gluster/sN
    index: int
    net: int = 1  # glusterd N listens on 127.1.<net>.N: two labs (the demo's, the tests') can coexist

    @property
    def name(self) -> str:
        return f"s{self.index}"

    @property
    def address(self) -> str:
        return f"127.1.{self.net}.{self.index}"

    @property
    def socket(self) -> Path:
        return self.home / "run" / "glusterd.socket"

    @property
    def pidfile(self) -> Path:
        return self.home / "glusterd.pid"

    @property
    def brick_root(self) -> Path:
        return self.home / "bricks"

    def argv(self) -> list[str]:
        return [
            "glusterd",
            "--xlator-option", f"management.working-directory={self.home / 'glusterd'}",
            "--xlator-option", f"management.transport.socket.bind-address={self.address}",
            "--xlator-option", f"management.run-directory={self.home / 'run'}",
            "--xlator-option", f"management.glusterd-sockfile={self.socket}",
            f"--pid-file={self.pidfile}",
            f"--log-file={self.home / 'log' / 'glusterd.log'}",
            "--no-daemon",
        ]

    def running(self) -> bool:
        pid = read_pid(self.pidfile)
        return pid is not None and pid_alive(pid) and self.socket.exists()

    def start(self, timeout: float = 30) -> None:
        if self.running():
            return
        if shutil.which("glusterd") is None:
            raise RuntimeFailure("glusterd is not installed (run scripts/setup, or apt-get install glusterfs-server)")
        for sub in ("glusterd", "run", "log", "bricks"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        pid = spawn(self.argv(), self.home / "log" / "glusterd.stdout", self.pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: self.socket.exists() or not pid_alive(pid), timeout, f"glusterd {self.name}")
        if not self.socket.exists():
            raise RuntimeFailure(f"glusterd {self.name} did not start; see {self.home / 'log' / 'glusterd.log'}")
        # Ready, as a service manager would report it: the socket exists a moment before glusterd
        # answers its CLI, and an apply right after a restart would find the server not answering.
        cli = GlusterCLI(LocalExecutor(), str(self.socket), timeout=5)

        def answers() -> bool:
            try:
                cli.pool()
                return True
            except RuntimeFailure:
                return False

        try:
            wait_until(answers, timeout, f"glusterd {self.name} to answer", interval=0.2)
        except Timeout:
            log = self.home / "log" / "glusterd.log"
            raise RuntimeFailure(f"glusterd {self.name} does not answer; see {log}") from None

    def stop_glusterd(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, grace=10, expect=str(self.home))

    def stop(self) -> None:
        """glusterd, then every brick and daemon it started (their command lines name our dirs)."""
        self.stop_glusterd()
        for pid in pids_naming(self.home):
            stop_pid(pid, grace=5, expect=str(self.home))


@dataclass(frozen=True)
class LabMount:
    """A web node's FUSE mount of the volume, with its client's pid recorded."""

    home: Path  # <lab>/web/webN

    @property
    def mountpoint(self) -> Path:
        return self.home / "storage"

    @property
    def pidfile(self) -> Path:
        return self.home / "glusterfs.pid"

    def stop(self) -> None:
        unmount_all_below(self.home)
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, grace=5, expect=str(self.home))


def unmount_aux_mounts(addresses: set[str]) -> list[str]:
    """glusterd mounts a volume under /run/gluster/ for itself (quota's `VOL_quota_limit`); a killed
    glusterd leaves it there, dead ("Transport endpoint is not connected"), and the next quota
    command on a volume of that name fails ("Failed to start aux mount"). Unmount (lazily) those
    whose server is one of `addresses` (the lab's own glusterd); returns their mount points."""
    gone = []
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) < 3 or fields[2] != "fuse.glusterfs" or not fields[1].startswith("/run/gluster/"):
                continue
            if fields[0].rsplit(":", 1)[0] in addresses:
                subprocess.run(["umount", "-l", fields[1]], capture_output=True, timeout=30)
                gone.append(fields[1])
    return gone

