"""Derive the Desired state (what should run, which directories should exist) from a Fleet."""

from __future__ import annotations

from cargohold.fleet.backup import SiteBackup, parse_duration
from cargohold.fleet.fields import LOGS_AREA
from cargohold.fleet.frontdoor import frontdoor_specs
from cargohold.fleet.gluster_profile import volume_options
from cargohold.fleet.schema import Fleet, GlusterStorage, Site
from cargohold.fleet.ssh import ssh_access
from cargohold.fleet.swarm import swarm_mount_root
from cargohold.model import (
    ADMIN_MOUNT,
    BackupSpec,
    ClusterSpec,
    Desired,
    DirSpec,
    HealthCheck,
    InstanceSpec,
    Mount,
    NodeStorage,
    ServerSpec,
    ServiceSpec,
    SiteSpec,
    SwarmNodeSpec,
    SwarmSpec,
    UpdatePolicy,
)

# Writable areas are served back by the site (uploads), logs are private to the site's owner.
AREA_MODE = 0o755
LOGS_MODE = 0o750


def desired_state(fleet: Fleet) -> Desired:
    node_names = tuple(n.name for n in fleet.nodes)
    if fleet.runtime == "swarm":
        sites = tuple(swarm_site_spec(fleet, site) for site in fleet.sites)
    else:
        sites = tuple(site_spec(site, node_names) for site in fleet.sites)
    return Desired(
        fleet=fleet.fleet,
        storage_root=fleet.storage.root,
        nodes=node_names,
        sites=sites,
        node_storage=tuple(
            NodeStorage(n.name, n.storage_root or fleet.storage.root, n.state_dir, ssh_access(fleet, n.ssh))
            for n in fleet.nodes
        ),
        cluster=cluster_spec(fleet, fleet.storage, sites) if isinstance(fleet.storage, GlusterStorage) else None,
        admin_mount=admin_mount(fleet.storage),
        frontdoors=frontdoor_specs(fleet, sites),
        storage_mount=fleet.storage.backend == "local" and fleet.storage.mount,
        swarm=swarm_spec(fleet) if fleet.runtime == "swarm" else None,
        backups=backup_specs(fleet),
    )


def backup_specs(fleet: Fleet) -> tuple[BackupSpec, ...]:
    """Every site that is backed up, with the fleet's settings under its own."""
    specs = []
    for site in fleet.sites:
        own = site.backup if isinstance(site.backup, SiteBackup) else SiteBackup()
        if site.backup is False or (fleet.backup is None and own.repository is None) or not site_areas(site):
            continue
        base = fleet.backup
        repository = own.repository or (base.repository if base else None)
        password_file = own.password_file or (base.password_file if base else None)
        assert repository is not None and password_file is not None  # the schema saw to it
        keep = own.keep or (base.keep if base else None)
        specs.append(BackupSpec(
            domain=site.domain,
            areas=tuple(f"{area}/{site.domain}" for area, _ in site_areas(site)),
            repository=repository,
            password_file=password_file,
            every_s=parse_duration(own.every or (base.every if base else "24h")),
            verify_every_s=parse_duration(own.verify_every or (base.verify_every if base else "7d")),
            keep=tuple(sorted(keep.as_dict().items())) if keep else (("daily", 7), ("monthly", 6), ("weekly", 4)),
            cache_dir=base.cache_dir if base else "/var/cache/cargohold/restic",
            check_slices=base.check_slices if base else 10,
        ))
    return tuple(specs)


def admin_mount(storage: object) -> NodeStorage | None:
    """The volume's mount on the machine cargohold runs on (storage.admin), if the fleet has one."""
    if not isinstance(storage, GlusterStorage) or storage.admin is None:
        return None
    return NodeStorage(ADMIN_MOUNT, storage.admin.root, storage.admin.state_dir)


def storage_label(fleet: str) -> str:
    return f"cargohold.storage.{fleet}"


def swarm_spec(fleet: Fleet) -> SwarmSpec:
    settings = fleet.swarm
    return SwarmSpec(
        manager=(settings.manager if settings and settings.manager else fleet.nodes[0].name),
        create=bool(settings and settings.create),
        heartbeat=settings.heartbeat if settings else 5.0,
        nodes=tuple(SwarmNodeSpec(n.name, n.address, tuple(sorted(n.labels.items()))) for n in fleet.nodes),
        storage_label=storage_label(fleet.fleet),
    )


def update_delay(fleet: Fleet, site: Site) -> float:
    if site.update.delay is not None:
        return site.update.delay
    door = fleet.frontdoor
    return 0.0 if door is None else door.check_interval * (door.rise + 1)


def swarm_site_spec(fleet: Fleet, site: Site) -> SiteSpec:
    """One Swarm service: every instance on a node of its own, only where the storage guard allows."""
    base = site_spec(site, tuple(n.name for n in fleet.nodes))
    first = base.instances[0]
    policy = site.update
    # Instances share the site's port (host networking): a new instance must not start on a node
    # where an old one still drains. stop-first guarantees that (moby#40797 aside).
    order = "stop-first" if policy.order == "auto" else policy.order
    constraints = [f"node.labels.{storage_label(fleet.fleet)}==ok"]
    constraints += [f"node.labels.{k}=={v}" for k, v in sorted(site.placement.items())]
    service = ServiceSpec(
        site=site.domain,
        image=site.image,
        replicas=site.instances,
        port=site.port,
        env=first.env,
        mounts=first.mounts,
        mount_root=swarm_mount_root(fleet),
        user=first.user,
        health=first.health,
        constraints=tuple(constraints),
        update=UpdatePolicy(policy.parallelism, update_delay(fleet, site), order, policy.monitor,
                            policy.failure_action),
        stop_grace=site.stop_grace,
        cpus=site.resources.cpus if site.resources else None,
        memory=site.resources.memory_bytes if site.resources else None,
    )
    return SiteSpec(domain=site.domain, instances=(), dirs=base.dirs, service=service)


def cluster_spec(fleet: Fleet, storage: GlusterStorage, sites: tuple[SiteSpec, ...]) -> ClusterSpec:
    # Only the fleet's web nodes and the servers themselves (self-heal, heal info) may mount the volume.
    allow = sorted({n.address for n in fleet.nodes} | {s.address for s in storage.servers}
                   | ({storage.admin.address} if storage.admin else set()))
    options = volume_options(len(storage.servers), {k: str(v) for k, v in storage.options.items()})
    options.setdefault("auth.allow", ",".join(allow))
    if storage.tls is not None:
        options.update({"client.ssl": "on", "server.ssl": "on", "ssl.own-cert": storage.tls.cert,
                        "ssl.private-key": storage.tls.key, "ssl.ca-list": storage.tls.ca,
                        "auth.ssl-allow": ",".join(storage.tls.allow)})
    quotas = []
    for site, spec in zip(fleet.sites, sites, strict=True):
        if site.quota_bytes is not None:
            quotas += [(d.relpath, site.quota_bytes) for d in spec.dirs]
    return ClusterSpec(
        volume=storage.volume,
        replica=storage.replica,
        arbiter=storage.arbiter,
        servers=tuple(ServerSpec(s.name, s.address, s.brick, ssh_access(fleet, s.ssh), s.glusterd_socket)
                      for s in storage.servers),
        options=tuple(sorted(options.items())),
        quotas=tuple(quotas),
        allow_root_filesystem=storage.allow_root_filesystem,
    )


def site_areas(site: Site) -> list[tuple[str, str]]:
    """(area, container path) pairs, writable areas first, then logs."""
    areas = [(area, path) for path, area in site.writable.items()]
    if site.logs:
        areas.append((LOGS_AREA, site.logs))
    return areas


def site_spec(site: Site, fleet_nodes: tuple[str, ...]) -> SiteSpec:
    eligible = tuple(site.nodes) if site.nodes else fleet_nodes
    areas = site_areas(site)
    dirs = tuple(
        DirSpec(area, site.domain, site.uid, site.gid, LOGS_MODE if area == LOGS_AREA else AREA_MODE)
        for area, _ in areas
    )
    mounts = tuple(Mount(area, f"{area}/{site.domain}", path) for area, path in areas)
    health = site.health_spec
    check = None if health is None else HealthCheck(**health.model_dump())
    env = tuple(sorted((k, str(v)) for k, v in site.env.items()))
    instances = tuple(
        InstanceSpec(
            site=site.domain,
            slot=slot,
            # Round-robin over the eligible nodes: instance 1 and 2 land on different nodes.
            node=eligible[(slot - 1) % len(eligible)],
            image=site.image,
            port=site.port + slot - 1,
            env=env,
            mounts=mounts,
            user=site.user or f"{site.uid}:{site.gid}",
            health=check,
        )
        for slot in range(1, site.instances + 1)
    )
    return SiteSpec(domain=site.domain, instances=instances, dirs=dirs)
