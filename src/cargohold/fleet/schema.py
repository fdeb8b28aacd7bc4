"""The fleet file's schema: what a user may write, checked before anything runs.

Every model forbids unknown keys and coerces nothing (strict mode), so `instances: "2"` or a
misspelt key is an error that names the field instead of a surprise at run time.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from cargohold.fleet.backup import Backup, SiteBackup
from cargohold.fleet.fields import (
    LOGS_AREA,
    OPTION_RE,
    AbsolutePath,
    AreaName,
    Bind,
    ContainerPath,
    Domain,
    EngineURL,
    EnvName,
    Host,
    ImageRef,
    Labels,
    Model,
    Name,
    Seconds,
    SSHTarget,
    StorageRoot,
    VolumeName,
    parse_size,
    unique,
)
from cargohold.fleet.machines import AdminMount, EngineTLS, SSHSettings
from cargohold.fleet.swarm import Resources, Swarm, UpdatePolicy, check_not_swarm, check_swarm


class Health(Model):
    """How to tell that an instance serves: an HTTP path answered with 2xx/3xx, or a command."""

    http: str | None = None
    command: str | None = None
    interval: Seconds = 2.0
    timeout: Seconds = 3.0
    retries: int = Field(3, ge=1, le=100)
    start_period: Annotated[float, Field(ge=0, le=3600)] = 0.0
    # How long apply waits for a new instance to become healthy before it gives up.
    deadline: Seconds = 90.0

    @model_validator(mode="after")
    def _one_probe(self) -> Health:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of 'http' (a path) or 'command'")
        if self.http is not None and not re.fullmatch(r"^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$", self.http):
            raise ValueError(f"http {self.http!r} must be a URL path starting with '/'")
        return self


class LocalStorage(Model):
    """A storage root that is a directory on every node (a mount of shared storage, or a lab dir)."""

    backend: Literal["local"]
    root: StorageRoot
    # The root is a mount of shared storage on every node: `storage init` and every apply refuse it
    # while nothing is mounted there (a marker written into an empty mount point would let a lost
    # mount pass the guard). false: a plain directory (one machine, the lab).
    mount: bool = True


class GlusterServer(Model):
    name: Name
    address: Host
    brick: AbsolutePath
    ssh: SSHTarget | None = None  # user@host[:port]; none: the server is this machine
    # A glusterd of its own on this machine (the lab); none: the system glusterd.
    glusterd_socket: AbsolutePath | None = None


def check_common_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        raise ValueError(f"{value!r} is not a certificate common name (letters, digits, '.', '_', '-')")
    return value


class StorageTLS(Model):
    """GlusterFS's TLS on the I/O path (client.ssl, server.ssl): bricks and clients present
    certificates signed by `ca`; only certificates whose common name is in `allow` may connect.
    The same files must be at these paths on every server and every web node."""

    ca: AbsolutePath
    cert: AbsolutePath
    key: AbsolutePath
    allow: list[Annotated[str, AfterValidator(check_common_name)]] = Field(min_length=1)


class GlusterStorage(Model):
    """The storage root is a replicated GlusterFS volume that every web node mounts at `root`."""

    backend: Literal["glusterfs"]
    root: StorageRoot
    volume: VolumeName
    servers: list[GlusterServer] = Field(min_length=2)
    replica: int = Field(3, ge=2, le=3)
    arbiter: int = Field(1, ge=0, le=1)
    # Plain replica 2 has no tie-breaker: see the validator's message.
    allow_replica2: bool = False
    # Bricks on a server's root filesystem fill it up with site data; refused unless set.
    allow_root_filesystem: bool = False
    options: dict[str, str | int] = Field(default_factory=dict)
    # auth.allow is the fleet's own web node and server addresses; replacing it is refused unless set.
    allow_wider_auth: bool = False
    tls: StorageTLS | None = None
    admin: AdminMount | None = None

    @model_validator(mode="after")
    def _layout(self) -> GlusterStorage:
        if self.replica == 2 and self.arbiter == 0 and not self.allow_replica2:
            raise ValueError(
                "replica 2 without an arbiter can split-brain: when the two servers lose sight of each other, "
                "both accept writes to the same file and neither copy can be trusted. Use replica 3 with "
                "arbiter 1 (the default), or set allow_replica2: true if you accept that risk"
            )
        if self.arbiter == 1 and self.replica != 3:
            raise ValueError("arbiter 1 needs replica 3 (two data bricks and one arbiter per replica set)")
        if len(self.servers) % self.replica:
            raise ValueError(f"{len(self.servers)} servers (bricks) is not a multiple of replica {self.replica}")
        unique([s.name for s in self.servers], "servers", "server name")
        unique([f"{s.address}:{s.brick}" for s in self.servers], "servers", "brick")
        for start in range(0, len(self.servers), self.replica):
            group = self.servers[start:start + self.replica]
            data = group[: self.replica - self.arbiter]
            addresses = [s.address for s in data]
            if len(set(addresses)) != len(addresses):
                raise ValueError(
                    f"servers {', '.join(s.name for s in group)} form one replica set but two of its data "
                    "bricks are on one server: losing that server loses both copies"
                )
        for name, value in self.options.items():
            if not OPTION_RE.fullmatch(name):
                raise ValueError(f"options: {name!r} is not a GlusterFS option name (like network.ping-timeout)")
            # The value is one argument of `gluster volume set`: never a flag, never two words.
            if not re.fullmatch(r"[A-Za-z0-9_.:,*/=+][A-Za-z0-9_.:,*/=+-]{0,255}", str(value)):
                raise ValueError(f"options: {name}: value {str(value)!r} must be one word of letters, digits and "
                                 "_.:,*/=+- that does not start with '-'")
            if name in TLS_OPTIONS:
                raise ValueError(f"options: {name} is set by `tls:` (ca, cert, key, allow), not by hand")
            if name in ("auth.allow", "auth.reject") and not self.allow_wider_auth:
                raise ValueError(f"options: {name} is set by cargohold to exactly the fleet's web nodes and servers; "
                                 "to replace it (and let other machines mount the volume) set allow_wider_auth: true")
        return self


TLS_OPTIONS = frozenset({"client.ssl", "server.ssl", "ssl.own-cert", "ssl.private-key", "ssl.ca-list",
                         "auth.ssl-allow"})

Storage = Annotated[LocalStorage | GlusterStorage, Field(discriminator="backend")]


class Timeouts(Model):
    connect: Seconds = 5.0
    client: Seconds = 30.0
    server: Seconds = 30.0


class FrontDoor(Model):
    """HAProxy on every web node, routing each domain to its site's healthy instances."""

    http: Bind = "127.0.0.1:18000"
    https: Bind | None = None
    # PEM files (certificate and key); HAProxy picks the one whose name matches the client's SNI.
    certificates: list[AbsolutePath] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    max_upload: str = "64MiB"
    # Active health checks: an instance leaves rotation after `fall` failed checks `check_interval` apart.
    check_interval: Seconds = 1.0
    fall: int = Field(2, ge=1, le=10)
    rise: int = Field(2, ge=1, le=10)

    @model_validator(mode="after")
    def _sizes(self) -> FrontDoor:
        parse_size(self.max_upload)
        if self.https is not None and not self.certificates:
            raise ValueError("https needs at least one file in 'certificates'")
        return self

    @property
    def port(self) -> int:
        return int(self.http.rsplit(":", 1)[1])


class Node(Model):
    name: Name
    engine: EngineURL
    # TLS files for a tcp:// engine (default: the fleet's engine_tls).
    tls: EngineTLS | None = None
    # Where this node's instances are reachable (they use host networking).
    address: Host = "127.0.0.1"
    # Where this node mounts the storage (default: storage.root); the lab gives each node its own.
    storage_root: AbsolutePath | None = None
    # Where cargohold keeps this node's mount pid and log.
    state_dir: AbsolutePath = "/var/lib/cargohold"
    ssh: SSHTarget | None = None  # user@host[:port] to mount storage on a remote node
    # This node's front door binds here (default: frontdoor.http/https); the lab gives each node its own ports.
    frontdoor_http: Bind | None = None
    frontdoor_https: Bind | None = None
    # Swarm node labels (runtime swarm); sites pick nodes by them with `placement`.
    labels: Labels = Field(default_factory=dict)


class Site(Model):
    domain: Domain
    image: ImageRef
    instances: int = Field(2, ge=1, le=64)
    # Instance N listens on port + N - 1 (host networking; the port is passed as $PORT).
    port: int = Field(ge=1024, le=65535)
    writable: dict[ContainerPath, AreaName] = Field(default_factory=dict)
    logs: ContainerPath | None = None
    app_root: ContainerPath | None = None
    uid: int = Field(33, ge=0, le=2**31 - 1)
    gid: int = Field(33, ge=0, le=2**31 - 1)
    # Who the container runs as; default the site's uid:gid so files it writes belong to the site.
    user: str | None = None
    # A site's container as root (uid or gid 0, user root) is refused unless this says it is meant.
    run_as_root: bool = False
    env: dict[EnvName, str | int | float] = Field(default_factory=dict)
    # NAME=VALUE lines read when the file is loaded (mode 0600, no symlink); `env` wins on a name in both.
    env_file: AbsolutePath | None = None
    health: str | Health | None = None
    nodes: list[Name] | None = None
    # GlusterFS directory quota for each of the site's areas, e.g. 10GiB, 500MB.
    quota: str | None = None
    # More host names for the site; with redirect_aliases they answer with a 301 to the domain.
    aliases: list[Domain] = Field(default_factory=list)
    redirect_aliases: bool = False
    # runtime swarm: at most this many instances per node (0: no limit); node labels the site needs;
    # the rolling-update policy; resource limits per instance.
    spread: int = Field(1, ge=1, le=64)
    placement: Labels = Field(default_factory=dict)
    update: UpdatePolicy = Field(default_factory=UpdatePolicy)
    resources: Resources | None = None
    stop_grace: Seconds = 10.0
    # Backups (the fleet's `backup:` section): true, false (left out), or the site's own settings.
    backup: bool | SiteBackup = True

    @model_validator(mode="after")
    def _consistent(self) -> Site:
        if self.port + self.instances - 1 > 65535:
            raise ValueError(f"port {self.port} + {self.instances} instances runs past 65535")
        areas = list(self.writable.values())
        for area in areas:
            if area == LOGS_AREA:
                raise ValueError("area 'logs' is reserved for the 'logs' path; name the writable area otherwise")
            if areas.count(area) > 1:
                raise ValueError(f"writable: area {area!r} is mounted at two paths")
        targets = list(self.writable) + ([self.logs] if self.logs else [])
        for target in targets:
            if targets.count(target) > 1:
                raise ValueError(f"{target!r} is mounted twice (writable and logs)")
        if self.nodes is not None and len(set(self.nodes)) != len(self.nodes):
            raise ValueError("nodes: a node is named twice")
        if self.quota is not None:
            parse_size(self.quota)
        if self.user is not None and not re.fullmatch(r"^[a-z0-9_][a-z0-9_.-]*(:[a-z0-9_][a-z0-9_.-]*)?$", self.user):
            raise ValueError(f"user {self.user!r} must be 'name', 'uid' or 'uid:gid'")
        user_parts = (self.user or "").split(":")
        if (self.uid == 0 or self.gid == 0 or any(p in ("0", "root") for p in user_parts)) and not self.run_as_root:
            raise ValueError("the site would run as root (uid/gid 0 or user root), with the node's network "
                             "(host networking) and its storage: give the site's own uid and gid, or set "
                             "run_as_root: true if that is meant")
        return self

    @property
    def health_spec(self) -> Health | None:
        if isinstance(self.health, str):
            if self.health.startswith("/"):
                return Health(http=self.health)
            return Health(command=self.health)
        return self.health

    @property
    def quota_bytes(self) -> int | None:
        return None if self.quota is None else parse_size(self.quota)

    @property
    def ports(self) -> range:
        return range(self.port, self.port + self.instances)

    def eligible(self, nodes: list[Node]) -> list[Node]:
        """runtime swarm: the nodes whose labels include every placement label of this site."""
        return [n for n in nodes if all(n.labels.get(k) == v for k, v in self.placement.items())]


class Fleet(Model):
    fleet: Name
    runtime: Literal["docker", "swarm"] = "docker"
    swarm: Swarm | None = None
    storage: Storage
    nodes: list[Node] = Field(min_length=1)
    sites: list[Site] = Field(default_factory=list)
    frontdoor: FrontDoor | None = None
    # TLS files for every node whose engine is tcp:// and that names none of its own.
    engine_tls: EngineTLS | None = None
    ssh: SSHSettings = Field(default_factory=SSHSettings)
    backup: Backup | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Fleet:
        unique([n.name for n in self.nodes], "nodes", "node name")
        for site in self.sites:
            if isinstance(site.backup, SiteBackup) and self.backup is None and site.backup.repository is None:
                raise ValueError(f"site {site.domain}: backup settings without a repository: add a fleet-wide "
                                 "`backup:` section (repository, password_file) or give the site its own")
        for node in self.nodes:
            if node.engine.startswith("tcp://") and node.tls is None and self.engine_tls is None:
                raise ValueError(
                    f"nodes: {node.name}: engine {node.engine} is plain TCP, an unauthenticated root API on the "
                    "network (and reachable from every site container): give tls {ca, cert, key} (or a "
                    "fleet-wide engine_tls), or use ssh://user@host")
        # Two nodes may share an engine (the lab) only if each mounts the storage at its own path.
        unique([f"{n.engine} with storage at {n.storage_root or self.storage.root}" for n in self.nodes],
                "nodes", "engine")
        unique([s.domain for s in self.sites], "sites", "domain")
        known = {n.name for n in self.nodes}
        for site in self.sites:
            for name in site.nodes or ():
                if name not in known:
                    raise ValueError(f"site {site.domain}: node {name!r} is not in 'nodes'")
        if self.runtime == "swarm":
            check_swarm(self)
        else:
            check_not_swarm(self)
        _check_port_overlap(self)
        unique([name for s in self.sites for name in [s.domain, *s.aliases]], "sites", "host name (domain or alias)")
        if self.frontdoor is not None:
            binds = [n.frontdoor_http or self.frontdoor.http for n in self.nodes]
            if self.frontdoor.https:
                binds += [n.frontdoor_https or self.frontdoor.https for n in self.nodes]
            unique([f"{n.engine} {b}" for n, b in zip(self.nodes * 2, binds, strict=False)], "nodes",
                    "front door bind")
            for bind in binds:
                port = int(bind.rsplit(":", 1)[1])
                for site in self.sites:
                    if port in site_ports(self, site):
                        raise ValueError(f"frontdoor: port {port} is also an instance port of {site.domain}")
        if self.storage.backend == "local" and any(s.quota for s in self.sites):
            raise ValueError("sites: quota needs storage.backend glusterfs (directory quotas)")
        return self

    def site(self, domain: str) -> Site:
        for site in self.sites:
            if site.domain == domain:
                return site
        raise KeyError(domain)


def site_ports(fleet: Fleet, site: Site) -> range:
    """Instance ports: with swarm every instance is on a node of its own and uses `port`."""
    return range(site.port, site.port + 1) if fleet.runtime == "swarm" else site.ports


def _check_port_overlap(fleet: Fleet) -> None:
    """Two sites whose instance ports overlap would fight for a port on a shared node."""
    taken: dict[int, str] = {}
    for site in fleet.sites:
        for port in site_ports(fleet, site):
            if port in taken:
                raise ValueError(
                    f"sites: {site.domain} uses port {port}, which {taken[port]} already uses "
                    f"(instance N of a site listens on port + N - 1)"
                )
            taken[port] = site.domain
