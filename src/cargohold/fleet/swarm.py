"""The fleet file's runtime-swarm parts: update policy, resources, the swarm section, and the
checks that only apply (or must not appear) with `runtime: swarm`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from cargohold.fleet.fields import Model, Name, Seconds, image_registry, parse_size

if TYPE_CHECKING:
    from cargohold.fleet.schema import Fleet


class UpdatePolicy(Model):
    """How Swarm rolls a new version out (runtime swarm); every field is passed to Swarm explicitly."""

    parallelism: int = Field(1, ge=1, le=64)
    # Between two instances. Default: long enough for the front doors' health checks to see the
    # new instance UP (check_interval x (rise + 1)) before the next one stops; 0 without front doors.
    delay: float | None = Field(None, ge=0, le=3600)
    # auto is stop-first: instances share the site's port on a node (host networking), so a new one
    # must not start where an old one still drains. start-first needs a spare node (moby#40797) and a
    # delay of at least the site's stop_grace.
    order: Literal["auto", "start-first", "stop-first"] = "auto"
    # How long each new instance is watched for a failure before the next one is updated.
    monitor: Seconds = 5.0
    failure_action: Literal["rollback", "pause", "continue"] = "rollback"


class Resources(Model):
    cpus: float | None = Field(None, gt=0, le=256)
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


def check_swarm(fleet: Fleet) -> None:
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


def check_not_swarm(fleet: Fleet) -> None:
    if fleet.swarm is not None:
        raise ValueError("swarm: needs runtime: swarm")
    for node in fleet.nodes:
        if node.labels:
            raise ValueError(f"node {node.name}: labels are for runtime swarm")
    for site in fleet.sites:
        defaults = type(site).model_fields
        for name in ("spread", "placement", "update", "resources", "stop_grace"):
            if name in site.model_fields_set and getattr(site, name) != defaults[name].get_default(
                    call_default_factory=True):
                raise ValueError(f"site {site.domain}: '{name}' is for runtime swarm")
