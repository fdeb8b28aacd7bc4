"""What the drivers saw: Observed and its parts, one per driver. Plain frozen data; the parsers
that build it live with the drivers."""

from __future__ import annotations

from dataclasses import dataclass, field

from cargohold.model.spec import instance_target, service_target


@dataclass(frozen=True)
class ObservedInstance:
    site: str
    slot: int
    node: str
    container_id: str
    name: str
    state: str  # running, exited, created, restarting, paused, dead
    health: str  # healthy, unhealthy, starting, none
    config_hash: str
    config: dict[str, object] = field(compare=False, hash=False)
    port: int = 0

    @property
    def target(self) -> str:
        return instance_target(self.site, self.slot)


@dataclass(frozen=True)
class ObservedDir:
    relpath: str
    exists: bool
    uid: int = -1
    gid: int = -1
    mode: int = 0
    problem: str | None = None  # e.g. "is a symlink": something apply must not touch


@dataclass(frozen=True)
class StorageState:
    """Is the storage root the fleet's own? (marker file with the fleet's id at the root)
    `node` is empty for the management view (where cargohold creates directories)."""

    root: str
    ok: bool
    reason: str = ""
    node: str = ""
    mounted: bool = True  # False: a shared-storage mount is missing (apply can mount it)
    mounted_from: str = ""


@dataclass(frozen=True)
class ObservedTask:
    slot: int
    node: str  # the node's host name ("" while not placed)
    state: str  # Swarm's task state: running, starting, pending, rejected, failed, shutdown, …
    desired: str  # running or shutdown
    image: str
    message: str  # Swarm's status message or error
    current: bool  # runs the service's current version (not a task of the previous one)
    version: str = ""  # the task hash of the version it runs


@dataclass(frozen=True)
class ObservedService:
    site: str
    service_id: str
    replicas: int
    config_hash: str
    config: dict[str, object] = field(compare=False, hash=False)
    update_state: str = ""  # updating, paused, completed, rollback_started, rollback_completed, …
    update_message: str = ""
    update_started: str = ""  # tells this update's outcome from an earlier one's
    tasks: tuple[ObservedTask, ...] = ()

    @property
    def target(self) -> str:
        return service_target(self.site)

    def running(self) -> list[ObservedTask]:
        return [t for t in self.tasks if t.desired == "running" and t.state == "running"]


@dataclass(frozen=True)
class SwarmNode:
    name: str  # host name
    node_id: str
    state: str  # ready, down, unknown, disconnected
    availability: str  # active, pause, drain
    address: str
    manager: bool
    labels: tuple[tuple[str, str], ...]
    engine: str = ""  # why the node's own engine did not answer (asked only for status); "" when it did


@dataclass(frozen=True)
class ObservedSwarm:
    active: bool  # the manager is in a swarm and manages it
    nodes: tuple[SwarmNode, ...] = ()
    services: tuple[ObservedService, ...] = ()
    not_joined: tuple[str, ...] = ()  # fleet nodes whose engine is in no swarm (or another one)
    problem: str = ""

    def node(self, name: str) -> SwarmNode | None:
        return next((n for n in self.nodes if n.name == name), None)

    def service(self, site: str) -> ObservedService | None:
        return next((s for s in self.services if s.site == site), None)


# -- GlusterFS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    hostname: str
    connected: bool


@dataclass(frozen=True)
class Brick:
    address: str
    path: str
    arbiter: bool = False

    @property
    def name(self) -> str:
        return f"{self.address}:{self.path}"


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    status: str  # Created, Started, Stopped
    replica: int
    arbiter: int
    bricks: tuple[Brick, ...]
    options: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BrickStatus:
    address: str
    path: str
    online: bool
    pid: int

    @property
    def name(self) -> str:
        return f"{self.address}:{self.path}"


@dataclass(frozen=True)
class HealSummary:
    brick: str
    connected: bool
    pending: int
    split_brain: int


@dataclass(frozen=True)
class MountState:
    node: str
    mountpoint: str
    mounted: bool
    server: str = ""  # the volfile server it was mounted from


@dataclass(frozen=True)
class ObservedCluster:
    error: str | None  # set when no server answered
    answered_by: str = ""  # address of the server whose view this is
    peers: tuple[Peer, ...] = ()
    volume: VolumeInfo | None = None
    bricks: tuple[BrickStatus, ...] = ()
    mounts: tuple[MountState, ...] = ()
    quotas: tuple[tuple[str, int | None], ...] = ()
    heal: tuple[HealSummary, ...] = ()  # asked only for status
    unreachable: tuple[tuple[str, str], ...] = ()  # (server, why) for servers that cannot take part now
    disk_free: tuple[tuple[str, int | None], ...] = ()  # (brick, bytes): asked only for status


# -- front doors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedFrontDoor:
    """What one node's HAProxy runs: the hash of the configuration it was rendered from (empty if it
    runs none of ours, or one an older cargohold rendered) and each site's servers in it."""

    node: str
    running: bool
    config_hash: str = ""
    servers: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (site, ("i1 10.0.0.1:20000", …))
    stats: tuple[dict[str, str], ...] = field(default=(), compare=False, hash=False)  # asked only for status


@dataclass(frozen=True)
class Observed:
    instances: tuple[ObservedInstance, ...]
    dirs: tuple[ObservedDir, ...]
    storage: StorageState
    nodes: tuple[StorageState, ...] = ()
    cluster: ObservedCluster | None = None  # storage glusterfs
    frontdoors: tuple[ObservedFrontDoor, ...] = ()
    swarm: ObservedSwarm | None = None  # runtime swarm
    # Web nodes that did not answer (their engine or their SSH), with why: nothing on them is
    # checked or changed; every driver adds the ones it could not reach.
    unreachable: tuple[tuple[str, str], ...] = ()

    def node_state(self, node: str) -> StorageState | None:
        return next((n for n in self.nodes if n.node == node), None)

    def frontdoor(self, node: str) -> ObservedFrontDoor | None:
        return next((f for f in self.frontdoors if f.node == node), None)


@dataclass(frozen=True)
class Usage:
    """What one site directory holds (status, site purge)."""

    bytes: int
    files: int
