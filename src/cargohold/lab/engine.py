"""A private Docker engine under the lab directory: its own socket, data root, exec root and pid.

It never touches the machine's engine state (/var/lib/docker, /var/run/docker.sock) and creates
no bridge or firewall rule: instances use host networking. A swarm lab starts one per test host,
each in its host's network namespace with the host's name (Docker Swarm names nodes by host name).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from cargohold.errors import RuntimeFailure
from cargohold.lab.tls import lab_ca
from cargohold.model import TLSFiles
from cargohold.process import (
    kill_cgroup,
    pid_alive,
    pids_naming,
    read_pid,
    spawn,
    stop_pid,
    unmount_all_below,
)
from cargohold.runtime.engines import Engines
from cargohold.wait import Timeout, wait_until


@dataclass(frozen=True)
class LabEngine:
    home: Path  # <lab>/docker
    netns: str | None = None  # /run/netns/NAME: run in that network namespace, with hostname `hostname`
    hostname: str | None = None
    insecure_registry: str | None = None  # ADDR:PORT of a plain-HTTP registry (the swarm lab's)
    tls_port: int | None = None  # also listen on tcp://<tls_address>:PORT, TLS with the lab CA (--tlsverify)
    tls_address: str = "127.0.0.1"
    # An isolated node's engine: in this mount namespace too (nsenter --mount), its TLS files made by
    # the caller in `tls_files` (ca.pem, server-cert.pem, server-key.pem, cert.pem, key.pem), and
    # reachable only over TLS (no unix socket: nothing on this machine can reach it another way).
    mntns: str | None = None
    tls_files: Path | None = None
    tls_only: bool = False

    @property
    def tls_dir(self) -> Path:
        return self.tls_files or self.home / "tls"

    @property
    def tcp_url(self) -> str:
        return f"tcp://{self.tls_address}:{self.tls_port}"

    @property
    def socket(self) -> Path:
        return self.home / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.home / "dockerd.pid"

    @property
    def cgroup(self) -> str:
        """A cgroup parent of this lab's own, so its containers can be found after a crash."""
        return "cargohold-" + hashlib.sha256(str(self.home).encode()).hexdigest()[:10]

    @property
    def logfile(self) -> Path:
        return self.home / "dockerd.log"

    def running(self) -> bool:
        pid = read_pid(self.pidfile)
        return pid is not None and pid_alive(pid) and self._answers()

    def client(self, timeout: float = 5) -> docker.DockerClient:
        if not self.tls_only:
            return docker.DockerClient(base_url=self.url, version="auto", timeout=timeout)
        files = TLSFiles(str(self.tls_dir / "ca.pem"), str(self.tls_dir / "cert.pem"), str(self.tls_dir / "key.pem"))
        return Engines({"node": self.tcp_url}, tls={"node": files}).new_client("node", timeout)

    def _answers(self) -> bool:
        try:
            client = self.client()
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False
        finally:
            client.close()

    def start(self, timeout: float = 60) -> None:
        if self.running():
            return
        self.stop()  # a crashed earlier run: clean up its leftovers first
        # dockerd refuses to start while its own pid file names a live process: after a SIGKILL that
        # pid may belong to anything by now (ours is stopped above).
        (self.home / "dockerd.self.pid").unlink(missing_ok=True)
        if shutil.which("dockerd") is None:
            raise RuntimeFailure("dockerd is not installed (run scripts/setup, or apt-get install docker.io)")
        for sub in ("data", "exec"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        config = self.home / "daemon.json"
        config.write_text(json.dumps({}))
        argv = [
            "dockerd",
            f"--config-file={config}",
            f"--data-root={self.home / 'data'}",
            f"--exec-root={self.home / 'exec'}",
            f"--pidfile={self.home / 'dockerd.self.pid'}",
            *([] if self.tls_only else [f"--host={self.url}"]),
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--storage-driver=overlay2",
            f"--cgroup-parent=/{self.cgroup}",
            "--log-level=warn",
        ]
        if self.insecure_registry:
            argv.append(f"--insecure-registry={self.insecure_registry}")
        if self.tls_port is not None:
            tls = self.tls_files or lab_ca(self.tls_dir)
            argv += ["--tlsverify", f"--tlscacert={tls / 'ca.pem'}", f"--tlscert={tls / 'server-cert.pem'}",
                     f"--tlskey={tls / 'server-key.pem'}", f"--host={self.tcp_url}"]
        if self.netns:
            # `ip netns exec` remounts /sys and breaks dockerd's cgroups: enter the namespace by hand.
            # nsenter, unshare and sh all exec, so the recorded pid is dockerd's.
            mount = [f"--mount={self.mntns}"] if self.mntns else []
            argv = ["nsenter", *mount, f"--net={self.netns}", "unshare", "--uts", "sh", "-c",
                    'hostname "$0" && exec "$@"', self.hostname or self.home.name, *argv]
        pid = spawn(argv, self.logfile, self.pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: self._answers() or not pid_alive(pid), timeout, "the lab dockerd to answer")
        if not self._answers():
            tail = self.logfile.read_text(errors="replace").splitlines()[-5:] if self.logfile.exists() else []
            self.stop()
            raise RuntimeFailure("the lab dockerd did not start: " + " | ".join(tail))

    def kill(self) -> None:
        """A dead machine, for fault tests: SIGKILL the engine, its containerd and every container."""
        for pid in (read_pid(self.pidfile), read_pid(self.home / "exec" / "containerd" / "containerd.pid")):
            if pid is not None and pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        kill_cgroup(self.cgroup)
        for pid in pids_naming(self.home / "exec"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, grace=20, expect=str(self.home))
        # A crashed dockerd leaves its containerd, the shims and the containers running.
        exec_root = self.home / "exec"
        containerd = read_pid(exec_root / "containerd" / "containerd.pid")
        if containerd is not None:
            stop_pid(containerd, grace=10, expect=str(exec_root))
        kill_cgroup(self.cgroup)
        for pid in pids_naming(exec_root):  # containerd-shim-runc-v2 -address <exec root>/…
            stop_pid(pid, grace=5, expect=str(exec_root))
        if self.home.exists():
            unmount_all_below(self.home)
        # The exec root is runtime state (like /var/run/docker, wiped at boot): a stale one makes
        # the next containerd hang restoring tasks whose shims are gone. An isolated node's is a
        # tmpfs in its own mount namespace (removing the directory from here would detach it):
        # it is wiped when the node "reboots" (a new mount namespace).
        if self.mntns is None:
            shutil.rmtree(exec_root, ignore_errors=True)
        self.pidfile.unlink(missing_ok=True)
