"""What the fleet file asks for, resolved: Desired and its parts. Plain frozen data."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cargohold.config_labels import config_hash
from cargohold.model.backup import BackupSpec


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
class SSHAccess:
    """How cargohold reaches a machine over SSH: user@host[:port], host keys only from
    `known_hosts` (default: the user's), the key `identity` (default: the agent and ~/.ssh)."""

    target: str
    known_hosts: str | None = None
    identity: str | None = None


ADMIN_MOUNT = "this machine"  # the NodeStorage of storage.admin (no node name has a space)


@dataclass(frozen=True)
class NodeStorage:
    """Where one web node sees the storage root, and how cargohold reaches the node."""

    node: str
    root: str
    state_dir: str
    ssh: SSHAccess | None = None


@dataclass(frozen=True)
class ServerSpec:
    name: str
    address: str
    brick: str
    ssh: SSHAccess | None = None
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
class Backend:
    """One server of a site's HAProxy backend: an instance (runtime docker) or a node (swarm)."""

    name: str  # i1, i2, … (runtime docker) or the node's name (runtime swarm)
    address: str
    port: int


@dataclass(frozen=True)
class SiteRoute:
    domain: str
    aliases: tuple[str, ...]
    redirect_aliases: bool
    health_path: str | None
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class FrontDoorConfig:
    log_socket: str
    bind: str
    https_bind: str | None
    certificates: tuple[str, ...]
    admin_socket: str
    connect_timeout: float
    client_timeout: float
    server_timeout: float
    max_upload: int
    check_interval: float
    fall: int
    rise: int
    sites: tuple[SiteRoute, ...]
    # Workers drop to this user and group after binding, in this (empty) chroot; None: stay root.
    user: str | None = None
    chroot: str | None = None

    def config_hash(self) -> str:
        return config_hash(asdict(self))


@dataclass(frozen=True)
class FrontDoorSpec:
    """The front door (HAProxy) one web node runs: where it keeps its state, and what it routes."""

    node: str
    home: str  # <state_dir>/frontdoor: configuration, sockets, chroot, log
    storage_root: str  # where its log writer puts each site's access log
    config: FrontDoorConfig
    # A node reached over SSH runs its front door there; the certificates are copied to it
    # (mode 0600), from these files of this machine to config.certificates, in order.
    ssh: SSHAccess | None = None
    certificate_sources: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return frontdoor_target(self.node)


def frontdoor_target(node: str) -> str:
    return f"frontdoor {node}"


def server_name(slot: int) -> str:
    """A runtime-docker instance's server name in its site's front-door backend."""
    return f"i{slot}"


@dataclass(frozen=True)
class Desired:
    fleet: str
    storage_root: str
    nodes: tuple[str, ...]
    sites: tuple[SiteSpec, ...]
    node_storage: tuple[NodeStorage, ...] = ()
    storage_mount: bool = False  # local backend: every node's root must be a mount point
    cluster: ClusterSpec | None = None
    frontdoors: tuple[FrontDoorSpec, ...] = ()  # one per web node (empty: no front door)
    swarm: SwarmSpec | None = None  # runtime swarm
    backups: tuple[BackupSpec, ...] = ()  # the sites that are backed up (fleet `backup:`)
    admin_mount: NodeStorage | None = None  # storage.admin: the volume mounted on this machine

    @property
    def mounts(self) -> tuple[NodeStorage, ...]:
        """Every mount of the volume cargohold makes: each web node's, and this machine's if any."""
        return self.node_storage + ((self.admin_mount,) if self.admin_mount else ())

    def site(self, domain: str) -> SiteSpec | None:
        return next((s for s in self.sites if s.domain == domain), None)

    def root_of(self, node: str) -> str:
        return next((n.root for n in self.node_storage if n.node == node), self.storage_root)


