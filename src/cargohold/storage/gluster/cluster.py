"""A replicated GlusterFS volume that every web node mounts at its storage root.

Observes the cluster through the first server that answers, each node's mount through the node's
executor; executes the operations plan.gluster produces. Site directories, the marker,
usage and purge go through a mount on this machine (the management mount), with the same
symlink-safe code as the local backend.
"""

from __future__ import annotations

import posixpath
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from cargohold.errors import RuntimeFailure, StorageError, UsageError
from cargohold.model import (
    ClusterSpec,
    CreateVolume,
    DirSpec,
    EnableQuota,
    GlusterOp,
    MountState,
    MountStorage,
    NodeStorage,
    ObservedCluster,
    ObservedDir,
    ProbePeer,
    ServerSpec,
    SetQuota,
    SetVolumeOption,
    StartBricks,
    StartVolume,
    StorageState,
    Usage,
    WriteMarker,
)
from cargohold.nodes.base import Executor, executor_for
from cargohold.storage.gluster.cli import GlusterCLI
from cargohold.storage.gluster.mount import mount_volume, parse_mounts
from cargohold.storage.tree import MARKER_FILE, StorageTree
from cargohold.wait import Timeout, wait_until

GLUSTERD_PORT = 24007
PROBE_TIMEOUT = 5.0  # is this glusterd answering at all? (a hung one must not stall status or apply)
# When none answered within PROBE_TIMEOUT the machine is more likely loaded than every server hung:
# they are asked once more, with patience, before storage is called unreachable.
PATIENT_PROBE_TIMEOUT = 25.0


class GlusterStorage:
    def __init__(self, fleet: str, spec: ClusterSpec, nodes: tuple[NodeStorage, ...], root: str) -> None:
        self.fleet = fleet
        self.spec = spec
        self.nodes = nodes
        self.root = root
        self.servers = [(s, GlusterCLI(executor_for(s.name, s.ssh), s.socket, timeout=20)) for s in spec.servers]
        self.node_exec: dict[str, Executor] = {n.node: executor_for(n.node, n.ssh) for n in nodes}
        self._step_cli: GlusterCLI | None = None

    # -- the cluster ---------------------------------------------------------------------------

    def probe(self, server: ServerSpec, cli: GlusterCLI, timeout: float = PROBE_TIMEOUT) -> str | None:
        """Why this server's glusterd cannot take part in a cluster operation now, or None.

        Its CLI must answer (a hung glusterd does not), and, for a server on this machine, its
        management port must accept a connection (a partitioned one does not). A cluster-wide
        operation started while a peer cannot answer holds glusterd's volume lock for minutes
        ("Another transaction is in progress"), so cargohold starts none then."""
        try:
            GlusterCLI(cli.executor, cli.socket, timeout=timeout).pool()
        except RuntimeFailure as exc:
            return f"glusterd does not answer ({exc})"
        if server.ssh is None:
            try:
                with socket.create_connection((server.address, GLUSTERD_PORT), timeout=2):
                    pass
            except OSError as exc:
                return f"{server.address}:{GLUSTERD_PORT} unreachable ({exc.strerror or exc})"
        return None

    def probe_all(self) -> dict[str, str | None]:
        found = self._probe_all(PROBE_TIMEOUT)  # a hung server costs one short timeout
        if all(found.values()):
            found = self._probe_all(PATIENT_PROBE_TIMEOUT)
        return found

    def _probe_all(self, timeout: float) -> dict[str, str | None]:
        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            found = pool.map(lambda pair: self.probe(pair[0], pair[1], timeout), self.servers)
            return {server.name: why for (server, _), why in zip(self.servers, found, strict=True)}

    def cli(self, probes: dict[str, str | None] | None = None) -> tuple[str, GlusterCLI]:
        """A server to talk to; refuses while any server cannot take part in a cluster operation."""
        probes = self.probe_all() if probes is None else probes
        down = [f"{name}: {why}" for name, why in probes.items() if why]
        if down:
            if len(down) == len(self.servers):
                raise RuntimeFailure("no storage server answered: " + "; ".join(down))
            raise RuntimeFailure("cluster operations wait until every server answers: " + "; ".join(down))
        server, cli = self.servers[0]
        return server.address, cli

    def observe_cluster(self, with_heal: bool = False) -> ObservedCluster:
        """The cluster as the first answering server sees it. While some server does not answer,
        only lock-free reads are made (pool, volume info) and `unreachable` says who is missing."""
        probes = self.probe_all()
        answering = [(s, c) for s, c in self.servers if probes[s.name] is None]
        unreachable = tuple((name, why) for name, why in probes.items() if why)
        mounts = self.observe_mounts()
        if not answering:
            down = "; ".join(f"{name}: {why}" for name, why in unreachable)
            return ObservedCluster(error=f"no storage server answered: {down}", mounts=mounts)
        server, cli = answering[0]
        try:
            with ThreadPoolExecutor(max_workers=3) as pool:
                asked_pool = pool.submit(cli.pool)
                asked_info = pool.submit(cli.volume_info, self.spec.volume)
                # Brick state is asked for at once (answered only for a started volume), never
                # while a server does not answer: it takes the volume's lock.
                asked_status = None if unreachable else pool.submit(cli.volume_status, self.spec.volume)
                peers = tuple(p for p in asked_pool.result() if p.hostname != "localhost")
                volume = asked_info.result()
                started = volume is not None and volume.status == "Started"
                try:
                    status = asked_status.result() if asked_status is not None else []
                except RuntimeFailure:
                    if started:
                        raise
                    status = []
            if unreachable:
                return ObservedCluster(None, server.address, peers, volume, (), mounts, unreachable=unreachable)
            bricks = tuple(status) if started else ()
            quotas: list[tuple[str, int | None]] = []
            if volume is not None and volume.options.get("features.quota") == "on":
                quotas = [(rel, cli.quota_limit(self.spec.volume, "/" + rel)) for rel, _ in self.spec.quotas]
            heal = tuple(cli.heal_summary(self.spec.volume)) if with_heal and bricks else ()
        except RuntimeFailure as exc:
            return ObservedCluster(error=str(exc), mounts=mounts)
        return ObservedCluster(None, server.address, peers, volume, bricks, mounts, tuple(quotas), heal)

    def disk_free(self) -> tuple[tuple[str, int | None], ...]:
        """Free bytes on each brick's filesystem (None where the server does not say)."""
        return tuple((f"{server.address}:{server.brick}", self._disk_free(cli.executor, server.brick))
                     for server, cli in self.servers)

    @staticmethod
    def _disk_free(executor: Executor, path: str) -> int | None:
        try:
            result = executor.run(["df", "--output=avail", "-B1", path], 5)
        except RuntimeFailure:
            return None
        lines = result.stdout.strip().splitlines()
        return int(lines[-1]) if result.ok and lines and lines[-1].strip().isdigit() else None

    def observe_mounts(self) -> tuple[MountState, ...]:
        states = []
        for node in self.nodes:
            try:
                text = self.node_exec[node.node].read_file("/proc/mounts") or ""
            except RuntimeFailure:  # the node does not answer: its mount is unknown (observe says why)
                text = ""
            mounted, server = parse_mounts(text, node.root)
            states.append(MountState(node.node, node.root, mounted, server))
        return tuple(states)

    def preflight(self) -> None:
        """Everything that would make a step fail half-way, checked before the first change."""
        _, cli = self.cli()
        known = cli.xml("volume", "set", "help-xml")
        for name, _value in self.spec.options:
            if f"<name>{name}</name>" not in known:  # the servers' own list (auth.allow, quorum types included)
                raise UsageError(f"storage.options: {name!r} is not a GlusterFS volume option")
        if not self.spec.allow_root_filesystem:
            for server, server_cli in self.servers:
                mount = self._filesystem_of(server_cli.executor, server.brick)
                if mount == "/":
                    raise UsageError(
                        f"storage.servers: brick {server.address}:{server.brick} is on the root filesystem of "
                        f"{server.name}; site data would fill it up. Put bricks on their own filesystem, or set "
                        "storage.allow_root_filesystem: true"
                    )

    @staticmethod
    def _filesystem_of(executor: Executor, path: str) -> str:
        probe = path
        while True:
            result = executor.run(["df", "--output=target", probe], 10)
            if result.ok:
                return result.stdout.strip().splitlines()[-1].strip()
            if probe == "/":
                return "/"
            probe = posixpath.dirname(probe)

    def execute(self, op: GlusterOp) -> None:
        # Every server is probed once per apply, before its first step, not before each step: each
        # call has its own timeout, and a plan has a dozen steps (one per option).
        if self._step_cli is None:
            _, self._step_cli = self.cli()
        cli = self._step_cli
        vol = self.spec.volume
        if isinstance(op, ProbePeer):
            address = op.address
            cli.call("peer", "probe", address)
            wait_until(lambda: any(p.hostname == address and p.connected for p in cli.pool()), 30,
                       f"peer {address} to join")
        elif isinstance(op, CreateVolume):
            self._wait_pool_connected()
            for server, server_cli in self.servers:
                server_cli.executor.run(["mkdir", "-p", posixpath.dirname(server.brick)], 10)
            layout = ["replica", str(self.spec.replica)] + (["arbiter", "1"] if self.spec.arbiter else [])
            bricks = [f"{s.address}:{s.brick}" for s in self.spec.servers]
            force = ["force"] if self.spec.allow_root_filesystem else []
            cli.call("volume", "create", vol, *layout, *bricks, *force, timeout=120)
        elif isinstance(op, StartVolume):
            cli.call("volume", "start", vol, timeout=120)
        elif isinstance(op, SetVolumeOption):
            scope = "all" if op.name == "cluster.server-quorum-ratio" else vol
            cli.call("volume", "set", scope, op.name, op.value)
        elif isinstance(op, StartBricks):
            self.start_bricks(cli)
        elif isinstance(op, MountStorage):
            self.mount(op.node)
        elif isinstance(op, WriteMarker):
            # Only for a volume this very plan created: an adopted volume without a marker is refused.
            StorageTree(self.management_root()).init_root(self.fleet)
        elif isinstance(op, EnableQuota):
            cli.call("volume", "quota", vol, "enable", timeout=120)
            # Without these, writes overshoot the limit for the soft/hard timeouts (LAB-NOTES).
            cli.call("volume", "quota", vol, "hard-timeout", "0")
            cli.call("volume", "quota", vol, "soft-timeout", "0")
        elif isinstance(op, SetQuota):
            cli.call("volume", "quota", vol, "limit-usage", "/" + op.relpath, str(op.limit))
        else:
            raise RuntimeFailure(f"unknown storage operation {op}")

    def _wait_pool_connected(self) -> None:
        """Every server sees every other as connected: a volume create staged on a server that
        does not yet know a new peer fails ("Host … not connected")."""
        addresses = {s.address for s, _ in self.servers}

        def all_connected() -> bool:
            for server, cli in self.servers:
                try:
                    seen = {p.hostname for p in cli.pool() if p.connected} | {server.address}
                except RuntimeFailure:
                    return False
                if not addresses <= seen:
                    return False
            return True

        try:
            wait_until(all_connected, 60, "every storage server to see every other", interval=0.3)
        except Timeout as exc:
            raise RuntimeFailure(str(exc)) from None

    def start_bricks(self, cli: GlusterCLI) -> None:
        """`volume start force`, then check that every brick is online with a live, new process:
        right after a kill, start force can report success and start nothing."""
        vol = self.spec.volume
        before = {b.name: (b.online, b.pid) for b in cli.volume_status(vol)}
        executors = {s.address: c.executor for s, c in self.servers}
        problems: list[str] = []

        def all_running() -> bool:
            now = cli.volume_status(vol)
            problems[:] = [f"{len(now)} of {len(self.spec.servers)} bricks listed"] \
                if len(now) != len(self.spec.servers) else []
            for brick in now:
                was_online, old_pid = before.get(brick.name, (False, 0))
                if not brick.online or brick.pid <= 0 or (not was_online and brick.pid == old_pid):
                    problems.append(f"{brick.name} online={brick.online} pid={brick.pid}")
                    continue
                executor = executors.get(brick.address)
                if executor is not None and not executor.run(["test", "-d", f"/proc/{brick.pid}"], 10).ok:
                    problems.append(f"{brick.name}: pid {brick.pid} is not running")
            return not problems

        try:
            # Seen here after a SIGKILL of two bricks: start force answered success and one brick
            # stayed offline for good. So: ask again, a few times, until every brick really runs.
            for attempt in range(1, 4):
                cli.call("volume", "start", vol, "force", timeout=120)
                try:
                    wait_until(all_running, 20, f"every brick of {vol} online with a running process", interval=0.5)
                    break
                except Timeout:
                    if attempt == 3:
                        raise
            # Clients reconnect to a restarted brick on their own, within a few seconds.
            wait_until(lambda: not self.clients_connected(), 60, "every mount to reconnect to every brick")
        except Timeout as exc:
            raise RuntimeFailure(f"{exc}: {'; '.join(problems or self.clients_connected())}") from None

    def mount(self, node_name: str) -> None:
        node = next(n for n in self.nodes if n.node == node_name)
        mount_volume(self.node_exec[node_name], node, self.spec)

    # -- directories, through the management mount ---------------------------------------------

    def management_root(self) -> str:
        for node in self.nodes:
            if node.ssh is None:
                text = self.node_exec[node.node].read_file("/proc/mounts") or ""
                if parse_mounts(text, node.root)[0]:
                    return node.root
        raise StorageError("no web node on this machine has the volume mounted (run apply)")

    def _local(self) -> StorageTree:
        return StorageTree(self.management_root())

    def check_node(self, node_name: str, fleet: str) -> StorageState:
        node = next(n for n in self.nodes if n.node == node_name)
        executor = self.node_exec[node_name]
        mounted, server = parse_mounts(executor.read_file("/proc/mounts") or "", node.root)
        if not mounted:
            return StorageState(node.root, False, f"the volume is not mounted at {node.root}", node_name, False)
        marker = executor.read_file(posixpath.join(node.root, MARKER_FILE))
        if marker is None:
            return StorageState(node.root, False, f"mounted, but no {MARKER_FILE} marker", node_name, True, server)
        if f'"fleet": "{fleet}"' not in marker:
            return StorageState(node.root, False, "the marker names another fleet", node_name, True, server)
        return StorageState(node.root, True, "", node_name, True, server)

    def check_root(self, fleet: str) -> StorageState:
        try:
            root = self.management_root()
        except StorageError as exc:
            return StorageState(self.root, False, str(exc), mounted=False)
        state = StorageTree(root).check_root(fleet)
        return StorageState(root, state.ok, state.reason)

    def observe_dirs(self, dirs: Sequence[DirSpec]) -> tuple[ObservedDir, ...]:
        try:
            return self._local().observe_dirs(dirs)
        except StorageError:
            return tuple(ObservedDir(d.relpath, False) for d in dirs)

    def ensure_dir(self, spec: DirSpec) -> None:
        state = self.check_root(self.fleet)
        if not state.ok:
            raise StorageError(f"{spec.target}: storage root {state.root}: {state.reason}")
        self._local().ensure_dir(spec)

    def usage(self, relpath: str) -> Usage | None:
        try:
            return self._local().usage(relpath)
        except StorageError:
            return None

    def area_path(self, relpath: str) -> str | None:
        return self._local().area_path(relpath)

    def init_root(self, fleet: str, force: bool = False) -> str:
        return self._local().init_root(fleet, force)

    def site_dirs(self, domain: str) -> list[str]:
        return self._local().site_dirs(domain)

    def purge(self, domain: str) -> list[str]:
        return self._local().purge(domain)

    def clients_connected(self) -> list[str]:
        """Mounts whose client is not connected to every brick (read from the mount's .meta)."""
        problems = []
        for node in self.nodes:
            executor = self.node_exec[node.node]
            for i in range(len(self.spec.servers)):
                path = f"{node.root}/.meta/graphs/active/{self.spec.volume}-client-{i}/private"
                text = executor.read_file(path) or ""
                if "connected = 1" not in text:
                    problems.append(f"{node.node}: client {i} not connected")
        return problems
