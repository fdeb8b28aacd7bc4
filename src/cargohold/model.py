"""The vocabulary shared by plan and apply: Desired, Observed, Action, Plan. Plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cargohold.config_labels import config_hash

ActionKind = Literal["create", "update", "replace", "remove"]


@dataclass(frozen=True)
class HealthCheck:
    http: str | None
    command: str | None
    interval: float
    timeout: float
    retries: int
    start_period: float
    deadline: float


@dataclass(frozen=True)
class DirSpec:
    """One per-site directory of the storage root: <root>/<area>/<domain>."""

    area: str
    domain: str
    uid: int
    gid: int
    mode: int

    @property
    def relpath(self) -> str:
        return f"{self.area}/{self.domain}"

    @property
    def target(self) -> str:
        return f"dir {self.relpath}"


@dataclass(frozen=True)
class Mount:
    area: str
    source: str  # path relative to the storage root: <area>/<domain>
    target: str  # path inside the container


@dataclass(frozen=True)
class InstanceSpec:
    """Everything that defines one running instance; a change to any of it means a replacement."""

    site: str
    slot: int
    node: str
    image: str
    port: int
    env: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    user: str
    health: HealthCheck | None

    @property
    def target(self) -> str:
        return instance_target(self.site, self.slot)

    def config(self) -> dict[str, object]:
        """What is compared to decide on a replacement (identity fields excluded)."""
        return {
            "image": self.image,
            "port": self.port,
            "env": dict(self.env),
            "mounts": [[m.source, m.target] for m in self.mounts],
            "user": self.user,
            "health": None if self.health is None else self.health.__dict__,
        }

    def config_hash(self) -> str:
        return config_hash(self.config())


@dataclass(frozen=True)
class TLSFiles:
    """A Docker engine reached over tcp://: the CA that signed its certificate, our client pair."""

    ca: str
    cert: str
    key: str


def instance_target(site: str, slot: int) -> str:
    return f"instance {site}#{slot}"


@dataclass(frozen=True)
class UpdatePolicy:
    parallelism: int
    delay: float
    order: str  # start-first or stop-first (auto is resolved from the fleet file, never from what runs)
    monitor: float
    failure_action: str


@dataclass(frozen=True)
class ServiceSpec:
    """runtime swarm: one Swarm service per site; a change to any of it is a rolling update."""

    site: str
    image: str
    replicas: int
    port: int
    env: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    mount_root: str  # the storage root on each node; may hold Swarm's {{.Node.Hostname}}
    user: str
    health: HealthCheck | None
    constraints: tuple[str, ...]
    update: UpdatePolicy
    stop_grace: float
    cpus: float | None = None
    memory: int | None = None

    @property
    def target(self) -> str:
        return service_target(self.site)

    def config(self) -> dict[str, object]:
        return {
            "image": self.image,
            "instances": self.replicas,
            "port": self.port,
            "env": dict(self.env),
            "mounts": [[f"{self.mount_root}/{m.source}", m.target] for m in self.mounts],
            "user": self.user,
            "health": None if self.health is None else self.health.__dict__,
            "placement": list(self.constraints),
            "update": self.update.__dict__,
            "stop_grace": self.stop_grace,
            "resources": {"cpus": self.cpus, "memory": self.memory},
        }

    def config_hash(self) -> str:
        return config_hash(self.config())

    def task_hash(self) -> str:
        """What each instance runs: all but the instance count (scaling restarts no instance)."""
        return config_hash({k: v for k, v in self.config().items() if k != "instances"})


def service_target(site: str) -> str:
    return f"service {site}"


@dataclass(frozen=True)
class SiteSpec:
    domain: str
    instances: tuple[InstanceSpec, ...]
    dirs: tuple[DirSpec, ...]
    service: ServiceSpec | None = None  # runtime swarm (then `instances` is empty)


@dataclass(frozen=True)
class NodeStorage:
    """Where one web node sees the storage root, and how cargohold reaches the node."""

    node: str
    root: str
    state_dir: str
    ssh: str | None = None


@dataclass(frozen=True)
class ServerSpec:
    name: str
    address: str
    brick: str
    ssh: str | None = None
    socket: str | None = None


@dataclass(frozen=True)
class ClusterSpec:
    """A replicated GlusterFS volume: its layout, options, and per-directory quotas."""

    volume: str
    replica: int
    arbiter: int
    servers: tuple[ServerSpec, ...]
    options: tuple[tuple[str, str], ...]
    quotas: tuple[tuple[str, int], ...]  # (relpath, bytes)
    allow_root_filesystem: bool = False


@dataclass(frozen=True)
class SwarmNodeSpec:
    name: str
    address: str
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SwarmSpec:
    manager: str
    create: bool
    heartbeat: float
    nodes: tuple[SwarmNodeSpec, ...]
    storage_label: str  # set on a node only while its storage mount carries the fleet's marker


@dataclass(frozen=True)
class Desired:
    fleet: str
    storage_root: str
    nodes: tuple[str, ...]
    sites: tuple[SiteSpec, ...]
    node_storage: tuple[NodeStorage, ...] = ()
    storage_mount: bool = False  # local backend: every node's root must be a mount point
    cluster: ClusterSpec | None = None
    frontdoor_nodes: tuple[str, ...] = ()  # nodes that run a front door (empty: no front door)
    swarm: SwarmSpec | None = None  # runtime swarm

    def site(self, domain: str) -> SiteSpec | None:
        return next((s for s in self.sites if s.domain == domain), None)

    def root_of(self, node: str) -> str:
        return next((n.root for n in self.node_storage if n.node == node), self.storage_root)


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


@dataclass(frozen=True)
class Step:
    """One backend operation carried by an Action: the storage cluster's (GlusterFS) or a front door's."""

    # probe, create-volume, start-volume, set-option, start-bricks, mount, write-marker, quota-enable,
    # quota-limit (storage); frontdoor-sync (front door); swarm-init, swarm-join, node-labels (swarm)
    op: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    instances: tuple[ObservedInstance, ...]
    dirs: tuple[ObservedDir, ...]
    storage: StorageState
    nodes: tuple[StorageState, ...] = ()
    cluster: object | None = None  # the backend's own observation (storage.glusterfs.ObservedCluster)
    frontdoor_drift: tuple[str, ...] = ()  # nodes whose front door does not run what the instances call for
    swarm: ObservedSwarm | None = None  # runtime swarm

    def node_state(self, node: str) -> StorageState | None:
        return next((n for n in self.nodes if n.node == node), None)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str
    reason: str
    after: tuple[str, ...] = ()
    dir: DirSpec | None = None
    instance: InstanceSpec | None = None
    observed: ObservedInstance | None = None
    step: Step | None = None
    service: ServiceSpec | None = None
    observed_service: ObservedService | None = None

    @property
    def node(self) -> str | None:
        if self.instance is not None:
            return self.instance.node
        return self.observed.node if self.observed is not None else None


@dataclass(frozen=True)
class Plan:
    fleet: str
    actions: tuple[Action, ...]
    blockers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # shown, not blocking

    @property
    def empty(self) -> bool:
        return not self.actions

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind == kind)
