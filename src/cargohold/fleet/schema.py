"""The fleet file's schema: what a user may write, checked before anything runs.

Every model forbids unknown keys and coerces nothing (strict mode), so `instances: "2"` or a
misspelt key is an error that names the field instead of a surprise at run time.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# RFC 1123 host name, lower-case only: labels of 1-63 letters, digits and inner hyphens.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
AREA_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Docker image reference: [registry[:port]/]name[:tag][@digest], lower-case path components.
IMAGE_RE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
ENGINE_RE = re.compile(r"^(unix:///\S+|tcp://[A-Za-z0-9.\[\]:-]+:[0-9]+|ssh://\S+)$")
RESERVED_ENV = frozenset({"PORT", "CARGOHOLD_SITE", "CARGOHOLD_INSTANCE"})
LOGS_AREA = "logs"


def check_domain(value: str) -> str:
    if len(value) > 253:
        raise ValueError(f"domain is {len(value)} characters long, at most 253 are allowed")
    if not DOMAIN_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid domain: use lower-case letters, digits, '-' and '.' "
            "(RFC 1123), with no leading or trailing dot or hyphen"
        )
    return value


def check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid name: 1-32 of a-z, 0-9 and inner '-'")
    return value


def check_area(value: str) -> str:
    if not AREA_RE.match(value):
        raise ValueError(f"{value!r} is not a valid area name: a-z first, then a-z, 0-9, '_' or '-'")
    return value


def check_absolute_path(value: str) -> str:
    if "\0" in value:
        raise ValueError("path contains a NUL byte")
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if any(part == ".." for part in value.split("/")):
        raise ValueError(f"{value!r} contains '..'")
    if posixpath.normpath(value) != value:
        raise ValueError(f"{value!r} is not a normalised path (write {posixpath.normpath(value)!r})")
    if ":" in value or "," in value:
        raise ValueError(f"{value!r} contains ':' or ',', which Docker mounts cannot carry")
    return value


def check_container_path(value: str) -> str:
    check_absolute_path(value)
    if value == "/":
        raise ValueError("'/' cannot be a mount point: name a directory inside the container")
    return value


def check_image(value: str) -> str:
    if not IMAGE_RE.match(value):
        raise ValueError(f"{value!r} is not a valid image reference (e.g. registry:5000/site:1.2)")
    return value


def image_registry(image: str) -> str | None:
    """The registry host an image reference names (a first component with '.' or ':', or localhost)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else None


def check_engine(value: str) -> str:
    if not ENGINE_RE.match(value):
        raise ValueError(f"{value!r} is not a Docker endpoint: use unix:///path, tcp://host:port or ssh://")
    return value


def check_env_name(value: str) -> str:
    if not ENV_RE.match(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    if value in RESERVED_ENV:
        raise ValueError(f"{value} is set by cargohold for every instance and cannot be overridden")
    return value


Domain = Annotated[str, AfterValidator(check_domain)]
Name = Annotated[str, AfterValidator(check_name)]
AreaName = Annotated[str, AfterValidator(check_area)]
AbsolutePath = Annotated[str, AfterValidator(check_absolute_path)]
ContainerPath = Annotated[str, AfterValidator(check_container_path)]
ImageRef = Annotated[str, AfterValidator(check_image)]
EngineURL = Annotated[str, AfterValidator(check_engine)]
EnvName = Annotated[str, AfterValidator(check_env_name)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
        if self.http is not None and not re.match(r"^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$", self.http):
            raise ValueError(f"http {self.http!r} must be a URL path starting with '/'")
        return self


class LocalStorage(Model):
    """A storage root that is a directory on every node (a mount of shared storage, or a lab dir)."""

    backend: Literal["local"]
    root: AbsolutePath


HOST_RE = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|" + _LABEL + r"(?:\.(?:" + _LABEL + r"))*)$")
VOLUME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OPTION_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$")


def check_host(value: str) -> str:
    if not HOST_RE.match(value):
        raise ValueError(f"{value!r} is not an IPv4 address or a host name")
    return value


def check_volume(value: str) -> str:
    if not VOLUME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid volume name (letters, digits, '_' and '-')")
    return value


Host = Annotated[str, AfterValidator(check_host)]
VolumeName = Annotated[str, AfterValidator(check_volume)]


class GlusterServer(Model):
    name: Name
    address: Host
    brick: AbsolutePath
    ssh: str | None = None  # user@host[:port]; none: the server is this machine
    # A glusterd of its own on this machine (the lab); none: the system glusterd.
    glusterd_socket: AbsolutePath | None = None


class GlusterStorage(Model):
    """The storage root is a replicated GlusterFS volume that every web node mounts at `root`."""

    backend: Literal["glusterfs"]
    root: AbsolutePath
    volume: VolumeName
    servers: list[GlusterServer] = Field(min_length=2)
    replica: int = Field(3, ge=2, le=3)
    arbiter: int = Field(1, ge=0, le=1)
    # Plain replica 2 has no tie-breaker: see the validator's message.
    allow_replica2: bool = False
    # Bricks on a server's root filesystem fill it up with site data; refused unless set.
    allow_root_filesystem: bool = False
    options: dict[str, str | int] = Field(default_factory=dict)

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
        _unique([s.name for s in self.servers], "servers", "server name")
        _unique([f"{s.address}:{s.brick}" for s in self.servers], "servers", "brick")
        for start in range(0, len(self.servers), self.replica):
            group = self.servers[start:start + self.replica]
            data = group[: self.replica - self.arbiter]
            addresses = [s.address for s in data]
            if len(set(addresses)) != len(addresses):
                raise ValueError(
                    f"servers {', '.join(s.name for s in group)} form one replica set but two of its data "
                    "bricks are on one server: losing that server loses both copies"
                )
        for name in self.options:
            if not OPTION_RE.match(name):
                raise ValueError(f"options: {name!r} is not a GlusterFS option name (like network.ping-timeout)")
        return self


Storage = Annotated[LocalStorage | GlusterStorage, Field(discriminator="backend")]


BIND_RE = re.compile(r"^(?P<addr>[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\*):(?P<port>[0-9]{1,5})$")


def check_bind(value: str) -> str:
    match = BIND_RE.match(value)
    if not match or not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r} is not address:port (like 127.0.0.1:18000 or *:80)")
    return value


Bind = Annotated[str, AfterValidator(check_bind)]


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


LABEL_KEY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not LABEL_KEY_RE.match(key) or key.startswith("cargohold."):
            raise ValueError(f"label {key!r}: use a-z, 0-9, '.', '_' and '-' (the 'cargohold.' prefix is reserved)")
        if not re.match(r"^[A-Za-z0-9._-]{1,63}$", val):
            raise ValueError(f"label {key}: value {val!r} must be 1-63 of letters, digits, '.', '_' and '-'")
    return value


Labels = Annotated[dict[str, str], AfterValidator(check_labels)]


class Node(Model):
    name: Name
    engine: EngineURL
    # Where this node's instances are reachable (they use host networking).
    address: str = "127.0.0.1"
    # Where this node mounts the storage (default: storage.root); the lab gives each node its own.
    storage_root: AbsolutePath | None = None
    # Where cargohold keeps this node's mount pid and log.
    state_dir: AbsolutePath = "/var/lib/cargohold"
    ssh: str | None = None  # user@host[:port] to mount storage on a remote node
    # This node's front door binds here (default: frontdoor.http/https); the lab gives each node its own ports.
    frontdoor_http: Bind | None = None
    frontdoor_https: Bind | None = None
    # Swarm node labels (runtime swarm); sites pick nodes by them with `placement`.
    labels: Labels = Field(default_factory=dict)


class UpdatePolicy(Model):
    """How Swarm rolls a new version out (runtime swarm); every field is passed to Swarm explicitly."""

    parallelism: int = Field(1, ge=1, le=64)
    # Between two instances. Default: long enough for the front doors' health checks to see the
    # new instance UP (check_interval x (rise + 1)) before the next one stops; 0 without front doors.
    delay: Annotated[float, Field(ge=0, le=3600)] | None = None
    # auto is stop-first: instances share the site's port on a node (host networking), so a new one
    # must not start where an old one still drains. start-first needs a spare node (moby#40797) and a
    # delay of at least the site's stop_grace.
    order: Literal["auto", "start-first", "stop-first"] = "auto"
    # How long each new instance is watched for a failure before the next one is updated.
    monitor: Seconds = 5.0
    failure_action: Literal["rollback", "pause", "continue"] = "rollback"


class Resources(Model):
    cpus: Annotated[float, Field(gt=0, le=256)] | None = None
    memory: str | None = None

    @model_validator(mode="after")
    def _sizes(self) -> Resources:
        if self.memory is not None:
            parse_size(self.memory)
        return self

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_size(self.memory)


class Swarm(Model):
    """runtime swarm: which node manages the swarm, and whether apply may create it and join nodes."""

    manager: Name | None = None  # default: the first node
    create: bool = False
    # How often nodes report to the manager; a dead node shows Down after ~1-2 of these.
    heartbeat: Seconds = 5.0


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
    env: dict[EnvName, str | int | float] = Field(default_factory=dict)
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
        if self.user is not None and not re.match(r"^[a-z0-9_][a-z0-9_.-]*(:[a-z0-9_][a-z0-9_.-]*)?$", self.user):
            raise ValueError(f"user {self.user!r} must be 'name', 'uid' or 'uid:gid'")
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

    @model_validator(mode="after")
    def _consistent(self) -> Fleet:
        _unique([n.name for n in self.nodes], "nodes", "node name")
        # Two nodes may share an engine (the lab) only if each mounts the storage at its own path.
        _unique([f"{n.engine} with storage at {n.storage_root or self.storage.root}" for n in self.nodes],
                "nodes", "engine")
        _unique([s.domain for s in self.sites], "sites", "domain")
        known = {n.name for n in self.nodes}
        for site in self.sites:
            for name in site.nodes or ():
                if name not in known:
                    raise ValueError(f"site {site.domain}: node {name!r} is not in 'nodes'")
        if self.runtime == "swarm":
            _check_swarm(self)
        else:
            _check_not_swarm(self)
        _check_port_overlap(self)
        _unique([name for s in self.sites for name in [s.domain, *s.aliases]], "sites", "host name (domain or alias)")
        if self.frontdoor is not None:
            binds = [n.frontdoor_http or self.frontdoor.http for n in self.nodes]
            if self.frontdoor.https:
                binds += [n.frontdoor_https or self.frontdoor.https for n in self.nodes]
            _unique([f"{n.engine} {b}" for n, b in zip(self.nodes * 2, binds, strict=False)], "nodes",
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


_SIZE_RE = re.compile(r"^([0-9]+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def parse_size(text: str) -> int:
    match = _SIZE_RE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a size like 500MiB or 10GB")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _unique(values: list[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{field}: {what} {value!r} appears twice")
        seen.add(value)


HOSTNAME_TEMPLATE = "{{.Node.Hostname}}"


def swarm_mount_root(fleet: Fleet) -> str:
    """The storage root as Swarm mounts it on every node: the one path every node uses, or, when
    each node mounts at a path of its own that contains its name (the lab), that path with the node
    name turned into Swarm's {{.Node.Hostname}} template."""
    roots = {n.name: n.storage_root or fleet.storage.root for n in fleet.nodes}
    if len(set(roots.values())) == 1:
        return next(iter(roots.values()))
    first = fleet.nodes[0].name
    template = roots[first].replace(f"/{first}/", f"/{HOSTNAME_TEMPLATE}/")
    if HOSTNAME_TEMPLATE not in template or any(
            template.replace(HOSTNAME_TEMPLATE, name) != root for name, root in roots.items()):
        raise ValueError(
            "nodes: with runtime swarm every node mounts the storage at the same path (storage.root), or "
            "each at a path that differs only by the node's name (like /lab/web1/storage, /lab/web2/storage)")
    return template


def _check_swarm(fleet: Fleet) -> None:
    names = {n.name for n in fleet.nodes}
    if fleet.swarm is not None and fleet.swarm.manager is not None and fleet.swarm.manager not in names:
        raise ValueError(f"swarm.manager: {fleet.swarm.manager!r} is not in 'nodes'")
    swarm_mount_root(fleet)
    for site in fleet.sites:
        if site.nodes is not None:
            raise ValueError(f"site {site.domain}: 'nodes' is for runtime docker; with swarm, label nodes and "
                             "use 'placement'")
        if image_registry(site.image) is None:
            raise ValueError(f"site {site.domain}: image {site.image!r} names no registry; Swarm pulls the image "
                             "on every node, so push it to a registry they reach (like registry:5000/site:1)")
        if site.spread != 1:
            raise ValueError(f"site {site.domain}: spread {site.spread}: instances use host networking and "
                             "listen on the site's port, so two of them cannot share a node; only spread 1 works")
        eligible = site.eligible(fleet.nodes)
        if site.update.order == "start-first":
            if len(eligible) <= site.instances:
                raise ValueError(f"site {site.domain}: update.order start-first needs a spare eligible node "
                                 f"({site.instances} instances on {len(eligible)} nodes stalls: moby#40797)")
            if (site.update.delay or 0) < site.stop_grace:
                raise ValueError(
                    f"site {site.domain}: update.order start-first needs update.delay >= stop_grace "
                    f"({site.stop_grace:g}s): the next new instance may land where an old one still holds the port")
        if site.instances > len(eligible):
            which = ", ".join(n.name for n in eligible) or "none"
            raise ValueError(
                f"site {site.domain}: {site.instances} instances, at most one per node, need {site.instances} "
                f"eligible nodes; there are {len(eligible)} ({which})")


def _check_not_swarm(fleet: Fleet) -> None:
    if fleet.swarm is not None:
        raise ValueError("swarm: needs runtime: swarm")
    for node in fleet.nodes:
        if node.labels:
            raise ValueError(f"node {node.name}: labels are for runtime swarm")
    defaults = Site.model_fields
    for site in fleet.sites:
        for name in ("spread", "placement", "update", "resources", "stop_grace"):
            if name in site.model_fields_set and getattr(site, name) != defaults[name].get_default(
                    call_default_factory=True):
                raise ValueError(f"site {site.domain}: '{name}' is for runtime swarm")


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
