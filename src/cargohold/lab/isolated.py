"""Isolated lab nodes: web nodes that share only the network with cargohold.

Each node is a network namespace (its own address on the lab bridge, 10.99.<net>.1N) *and* a mount
namespace and a UTS namespace (its host name) of its own, kept alive by bind mounts of their nsfs
files (as `ip netns` keeps network namespaces). Inside, the node has:

- its own /srv (its disk, <home>/disk/srv, bound there in its mount namespace only): the node's
  storage root (/srv/storage) and state directory (/srv/cargohold) exist nowhere else on this
  machine's paths, so a step that looks at a path here instead of asking the node fails; and its
  own /root;
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
from cargohold.lab.images import DEMO_REPO, ensure_demo_image
from cargohold.lab.netns import LabNetwork
from cargohold.lab.registry import LabRegistry
from cargohold.lab.sshd import LabSSHD
from cargohold.lab.swarm import HEARTBEAT, push_image
from cargohold.lab.tls import lab_ca, server_certificate
from cargohold.process import kill_cgroup, pid_alive, read_pid, spawn
from cargohold.wait import Timeout, wait_until

NODE_SUFFIX = 10  # webN at 10.99.<net>.(10 + N)
REGISTRY_SUFFIX = 240  # the isolated lab's registry host (the swarm lab's is .250)
SERVER_SUFFIX = 20  # storage server sN at 10.99.<net>.(20 + N)
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
    """A web node (kind "web": sshd and a Docker engine) or a storage server (kind "storage": sshd
    and glusterd with its defaults, its /run, /var/lib/glusterd and /var/log/glusterfs its own)."""

    lab: IsolatedLab
    index: int
    kind: str = "web"

    @property
    def name(self) -> str:
        return f"web{self.index}" if self.kind == "web" else f"s{self.index}"

    @property
    def suffix(self) -> int:
        return (NODE_SUFFIX if self.kind == "web" else SERVER_SUFFIX) + self.index

    @property
    def home(self) -> Path:
        return self.lab.home / self.name

    @property
    def address(self) -> str:
        return self.lab.network.address(self.suffix)

    @property
    def netns(self) -> str:
        return self.lab.network.netns_path(f"iso{self.suffix}")

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
                         tls_port=ENGINE_PORT, tls_address=self.address, tls_files=tls, tls_only=True,
                         insecure_registry=self.lab.registry.address)

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
        """The node's network namespace and, if it has none (first start, or after a kill: a
        reboot), a fresh mount namespace. Its disk (<home>/disk, bound over /srv and /root, and a
        server's /var/lib/glusterd and /var/log/glusterfs) survives a reboot; its runtime state
        (a server's /run, a web node's engine exec root: tmpfs) and its mounts do not."""
        self.lab.network.ensure_host(f"iso{self.suffix}", self.suffix)
        self.home.mkdir(parents=True, exist_ok=True)
        if _mounted(self.mntns) == "nsfs":
            return
        self.mntns.touch()
        self.utsns.touch()
        _run(["unshare", f"--mount={self.mntns}", f"--uts={self.utsns}", "--propagation", "private",
              "hostname", self.name], f"{self.name}: its namespaces")
        # root's home of its own too: this machine's ~/.bashrc (run by sshd's `bash -c` for every
        # command) is not the node's.
        disks = {NODE_ROOT: "srv", "/root": "root"}
        if self.kind == "storage":  # glusterd with its defaults, as on a storage machine
            disks.update({"/var/lib/glusterd": "glusterd", "/var/log/glusterfs": "glusterfs-log"})
        for target, name in disks.items():
            source = self.home / "disk" / name
            source.mkdir(parents=True, exist_ok=True, mode=0o755)
            _run([*self.enter, "mount", "--bind", str(source), target], f"{self.name}: its own {target}")
        if self.kind == "storage":
            _run([*self.enter, "mount", "-t", "tmpfs", "-o", "mode=0755", f"{self.name}-run", "/run"],
                 f"{self.name}: its own /run")
            _run([*self.enter, "mkdir", "-p", "-m", "0755", "/run/sshd", "/srv/bricks"], f"{self.name}: directories")
            return
        # The engine's runtime state (containerd's socket, a root API too) only inside the node.
        exec_root = self.home / "docker" / "exec"
        exec_root.mkdir(parents=True, exist_ok=True)
        _run([*self.enter, "mount", "-t", "tmpfs", "-o", "mode=0700", f"{self.name}-run", str(exec_root)],
             f"{self.name}: its engine's runtime directory")

    def up(self, demo_versions: tuple[str, ...]) -> None:
        self.namespaces_up()
        self.sshd.start()
        if self.kind == "storage":
            self._glusterd_up()
            return
        engine = self.engine
        engine.start()
        client = engine.client(timeout=600)
        try:
            for version in demo_versions:
                ensure_demo_image(client, version)
        finally:
            client.close()

    def _glusterd_answers(self) -> bool:
        result = subprocess.run([*self.enter, "gluster", "--mode=script", "pool", "list"], capture_output=True,
                                timeout=30)
        return result.returncode == 0

    def _glusterd_up(self, timeout: float = 30) -> None:
        pidfile = self.home / "glusterd.pid"
        pid = read_pid(pidfile)
        if pid is not None and pid_alive(pid) and self._glusterd_answers():
            return
        argv = [*self.enter, "glusterd", "--no-daemon", "--log-level=WARNING",
                "--xlator-option", f"management.transport.socket.bind-address={self.address}"]
        pid = spawn(argv, self.home / "glusterd.out", pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: not pid_alive(pid) or self._glusterd_answers(), timeout, f"glusterd on {self.name}",
                       interval=0.2)
        if not pid_alive(pid) or not self._glusterd_answers():
            tail = (self.home / "glusterd.out").read_text(errors="replace")[-300:]
            raise RuntimeFailure(f"glusterd on {self.name} did not start: {tail}")

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
        if self.kind == "web":
            kill_cgroup(self.engine.cgroup)
        self._drop_mntns()

    def _drop_mntns(self) -> None:
        for ns in (self.mntns, self.utsns):
            if _mounted(ns) == "nsfs":
                subprocess.run(["umount", "-l", str(ns)], capture_output=True, timeout=30)

    def down(self) -> None:
        if self.kind == "web":
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

    @property
    def registry(self) -> LabRegistry:
        """A registry on a host of its own (plain HTTP; every isolated engine lists it as insecure),
        for runtime swarm: Swarm pulls a service's image on each node."""
        return LabRegistry(self.home / "registry", f"{self.network.address(REGISTRY_SUFFIX)}:5000",
                           netns=self.network.netns_path("isoregistry"))

    def push_demo_images(self, versions: tuple[str, ...]) -> list[str]:
        """The demo images, built on web1's engine and pushed to the lab's registry, as CI would."""
        self.network.ensure_host("isoregistry", REGISTRY_SUFFIX)
        self.registry.start()
        client = self.node(1).engine.client(timeout=600)
        try:
            return [push_image(client, ensure_demo_image(client, v), f"{self.registry.address}/{DEMO_REPO}:{v}")
                    for v in versions]
        finally:
            client.close()

    def server(self, index: int) -> IsolatedNode:
        return IsolatedNode(self, index, "storage")

    def indexes(self) -> list[int]:
        return sorted(int(p.name[3:]) for p in self.home.glob("web[0-9]*")) if self.home.exists() else []

    def server_indexes(self) -> list[int]:
        return sorted(int(p.name[1:]) for p in self.home.glob("s[0-9]*")) if self.home.exists() else []

    def hosts(self) -> list[IsolatedNode]:
        return [self.node(i) for i in self.indexes()] + [self.server(i) for i in self.server_indexes()]

    def up(self, web: int, demo_versions: tuple[str, ...] = ("1", "2"), storage: int = 0) -> list[IsolatedNode]:
        """Start (or restart what died of) `web` isolated web nodes and `storage` storage servers;
        write the lab's known_hosts. Returns the web nodes."""
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
        for host in [*nodes, *(self.server(i) for i in range(1, storage + 1))]:
            host.up(demo_versions)
        lines = {line for host in self.hosts() for line in self._host_key_lines(host)}
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
        for host in self.hosts():
            host.down()
        self.registry.stop()
        if _mounted(self.ns_dir) is not None:
            subprocess.run(["umount", "-l", str(self.ns_dir)], capture_output=True, timeout=30)

    def fleet(self, web: int, storage: int, fleet: str, admin_root: Path, swarm: bool = False) -> dict[str, object]:
        """A fleet file (as data) naming the isolated hosts exactly as a production fleet names its
        machines: engines over TLS, SSH targets with the lab's known_hosts and key, the nodes'
        own paths; the volume also mounted on this machine (storage.admin) for the fleet's work.
        With swarm: runtime swarm, apply creates the swarm (web1 its manager)."""
        ca = self.ca_dir
        servers = [self.server(i) for i in range(1, storage + 1)]
        replica = 3 if storage >= 3 else 2
        return {
            "fleet": fleet,
            **({"runtime": "swarm", "swarm": {"manager": "web1", "create": True, "heartbeat": HEARTBEAT}}
               if swarm else {}),
            "engine_tls": {"ca": str(ca / "ca.pem"), "cert": str(ca / "cert.pem"), "key": str(ca / "key.pem")},
            "ssh": {"known_hosts": str(self.known_hosts), "identity": str(self.client_key)},
            "storage": {
                "backend": "glusterfs", "root": "/srv/storage", "volume": "web",
                "servers": [{"name": s.name, "address": s.address, "brick": "/srv/bricks/web",
                             "ssh": s.ssh_target} for s in servers],
                "replica": replica, "arbiter": 1 if replica == 3 else 0,
                **({} if replica == 3 else {"allow_replica2": True}),
                "admin": {"root": str(admin_root), "address": self.network.host_address,
                          "state_dir": str(admin_root.parent / "state")},
            },
            "nodes": [{"name": n.name, "engine": n.engine_url, "address": n.address, "ssh": n.ssh_target,
                       "state_dir": "/srv/cargohold"} for n in (self.node(i) for i in range(1, web + 1))],
            "sites": [],
        }
