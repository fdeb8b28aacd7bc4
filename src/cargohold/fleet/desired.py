"""Derive the Desired state (what should run, which directories should exist) from a Fleet."""

from __future__ import annotations

from cargohold.fleet.schema import LOGS_AREA, Fleet, Site
from cargohold.model import Desired, DirSpec, HealthCheck, InstanceSpec, Mount, SiteSpec

# Writable areas are served back by the site (uploads), logs are private to the site's owner.
AREA_MODE = 0o755
LOGS_MODE = 0o750


def desired_state(fleet: Fleet) -> Desired:
    node_names = tuple(n.name for n in fleet.nodes)
    return Desired(
        fleet=fleet.fleet,
        storage_root=fleet.storage.root,
        nodes=node_names,
        sites=tuple(site_spec(site, node_names) for site in fleet.sites),
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
