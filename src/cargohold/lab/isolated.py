"""Isolated lab nodes: web nodes that share only the network with cargohold.

Each node is a network namespace (its own address on the lab bridge, 10.99.<net>.1N) *and* a mount
namespace and a UTS namespace (its host name) of its own, kept alive by bind mounts of their nsfs
files (as `ip netns` keeps network namespaces). Inside, the node has:

- its own /srv (a tmpfs mounted in its mount namespace only): the node's storage root
  (/srv/storage) and state directory (/srv/cargohold) exist nowhere else, so a step that looks
  at a path on this machine instead of asking the node fails;
- its own sshd on <address>:22 (host key in the lab's known_hosts, one client key for the lab);
- its own dockerd, reachable only over TLS on <address>:2376 (a lab CA; its exec root, with
  containerd's socket, on a tmpfs of the node's own: no unix socket anyone outside could use), with
  containers on the node's network (host networking);
- whatever cargohold starts through the node's sshd (the storage mount, the front door): those
  processes enter the node's namespaces because sshd runs in them.

Killing a node SIGKILLs every process in its network namespace (engine, containerd, containers,
sshd, the FUSE client, the front door) and its engine's cgroup: the machine is gone at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cargohold.errors import RuntimeFailure
from cargohold.lab.engine import LabEngine
from cargohold.lab.images import ensure_demo_image
from cargohold.lab.netns import LabNetwork
from cargohold.lab.sshd import LabSSHD
from cargohold.lab.tls import lab_ca, server_certificate
from cargohold.process import kill_cgroup

NODE_SUFFIX = 10  # webN at 10.99.<net>.(10 + N)
ENGINE_PORT = 2376
SSH_PORT = 22
NODE_ROOT = "/srv"  # the node's own directory tree (tmpfs in its mount namespace)


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeFailure(f"{what}: {result.stderr.strip() or result.stdout.strip()}")


def _mounted(path: Path) -> str | None:
    """The file system type mounted at `path` in this machine's mount table, or None."""
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 2 and fields[1] == str(path):
                return fields[2]
    return None


@dataclass(frozen=True)
class IsolatedNode:
    lab: IsolatedLab
    index: int

    @property
    def name(self) -> str:
        return f"web{self.index}"

    @property
    def home(self) -> Path:
        return self.lab.home / self.name

    @property
    def address(self) -> str:
        return self.lab.network.address(NODE_SUFFIX + self.index)

    @property
    def netns(self) -> str:
        return self.lab.network.netns_path(f"iso{self.index}")

    @property
    def mntns(self) -> Path:
        return self.lab.ns_dir / self.name

    @property
    def utsns(self) -> Path:
        return self.lab.ns_dir / f"{self.name}.uts"

    @property
    def enter(self) -> list[str]:
        """The argv prefix that runs a command inside this node (its mount, UTS and network namespaces)."""
        return ["nsenter", f"--mount={self.mntns}", f"--uts={self.utsns}", f"--net={self.netns}"]

    @property
    def engine(self) -> LabEngine:
        tls = server_certificate(self.lab.ca_dir, self.home / "tls", self.address)
        return LabEngine(self.home / "docker", netns=self.netns, hostname=self.name, mntns=str(self.mntns),
                         tls_port=ENGINE_PORT, tls_address=self.address, tls_files=tls, tls_only=True)

    @property
    def engine_url(self) -> str:
        return f"tcp://{self.address}:{ENGINE_PORT}"

    @property
    def sshd(self) -> LabSSHD:
        return LabSSHD(self.home / "sshd", port=SSH_PORT, address=self.address, enter=tuple(self.enter),
                       accepts=self.lab.client_key)

    @property
    def ssh_target(self) -> str:
        return f"root@{self.address}"

    def namespaces_up(self) -> None:
        """The node's network namespace and a fresh mount namespace with its own /srv (a node that
        was killed comes back as after a reboot: its /srv empty, its engine's data kept)."""
        self.lab.network.ensure_host(f"iso{self.index}", NODE_SUFFIX + self.index)
        self.home.mkdir(parents=True, exist_ok=True)
        if _mounted(self.mntns) == "nsfs":
            return
        self.mntns.touch()
        self.utsns.touch()
        _run(["unshare", f"--mount={self.mntns}", f"--uts={self.utsns}", "--propagation", "private",
              "hostname", self.name], f"{self.name}: its namespaces")
        _run([*self.enter, "mount", "-t", "tmpfs", "-o", "mode=0755,size=1g", f"{self.name}-srv", NODE_ROOT],
             f"{self.name}: its own {NODE_ROOT}")
        # The engine's runtime state (containerd's socket, a root API too) only inside the node.
        exec_root = self.home / "docker" / "exec"
        exec_root.mkdir(parents=True, exist_ok=True)
        _run([*self.enter, "mount", "-t", "tmpfs", "-o", "mode=0700", f"{self.name}-run", str(exec_root)],
             f"{self.name}: its engine's runtime directory")

    def up(self, demo_versions: tuple[str, ...]) -> None:
        self.namespaces_up()
        self.sshd.start()
        engine = self.engine
        engine.start()
        client = engine.client(timeout=600)
        try:
            for version in demo_versions:
                ensure_demo_image(client, version)
        finally:
            client.close()

    def pids(self) -> list[int]:
        """Every process in this node's network namespace (the node's engine, its containers with
        host networking, sshd and what it started)."""
        try:
            inode = os.stat(self.netns).st_ino
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                        found.append(int(entry))
        return found

    def kill(self) -> None:
        """A dead machine: SIGKILL everything in it, at once, and drop its mount namespace."""
        for _ in range(3):  # a process forking while we kill: look again
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        kill_cgroup(self.engine.cgroup)
        self._drop_mntns()

    def _drop_mntns(self) -> None:
        for ns in (self.mntns, self.utsns):
            if _mounted(ns) == "nsfs":
                subprocess.run(["umount", "-l", str(ns)], capture_output=True, timeout=30)

    def down(self) -> None:
        self.engine.stop()
        self.sshd.stop()
        self.kill()


@dataclass(frozen=True)
class IsolatedLab:
    home: Path  # <lab>/nodes
    network: LabNetwork

    @property
    def ns_dir(self) -> Path:
        return self.home / "ns"

    @property
    def ca_dir(self) -> Path:
        return lab_ca(self.home / "tls")

    @property
    def client_key(self) -> Path:
        return self.home / "ssh" / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.home / "ssh" / "known_hosts"

    def node(self, index: int) -> IsolatedNode:
        return IsolatedNode(self, index)

    def indexes(self) -> list[int]:
        return sorted(int(p.name[3:]) for p in self.home.glob("web[0-9]*")) if self.home.exists() else []

    def up(self, web: int, demo_versions: tuple[str, ...] = ("1", "2")) -> list[IsolatedNode]:
        """Start (or restart what died of) `web` isolated nodes; write the lab's known_hosts."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.ns_dir.mkdir(exist_ok=True)
        if _mounted(self.ns_dir) is None:  # nsfs files can only be bound on a private mount
            _run(["mount", "--bind", str(self.ns_dir), str(self.ns_dir)], "the lab's namespace directory")
            _run(["mount", "--make-private", str(self.ns_dir)], "the lab's namespace directory")
        self.client_key.parent.mkdir(exist_ok=True, mode=0o700)
        if not self.client_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cargohold lab", "-f",
                            str(self.client_key)], check=True, timeout=30)
        nodes = [self.node(i) for i in range(1, web + 1)]
        for node in nodes:
            node.up(demo_versions)
        lines = {line for i in self.indexes() for line in self._host_key_lines(self.node(i))}
        self.known_hosts.write_text("".join(sorted(lines)))
        return nodes

    @staticmethod
    def _host_key_lines(node: IsolatedNode) -> list[str]:
        pub = node.sshd.host_key.with_suffix(".pub")
        if not pub.exists():
            return []
        kind, key = pub.read_text().split()[:2]
        return [f"{node.address} {kind} {key}\n"]

    def down(self) -> None:
        for i in self.indexes():
            self.node(i).down()
        if _mounted(self.ns_dir) is not None:
            subprocess.run(["umount", "-l", str(self.ns_dir)], capture_output=True, timeout=30)
