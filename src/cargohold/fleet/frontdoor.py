"""Derive each web node's front-door configuration (FrontDoorSpec) from a Fleet. Pure."""

from __future__ import annotations

from cargohold.fleet.fields import parse_size
from cargohold.fleet.schema import Fleet
from cargohold.fleet.ssh import ssh_access
from cargohold.model import Backend, FrontDoorConfig, FrontDoorSpec, SiteRoute, SiteSpec, server_name

# Workers run as this user (Debian's haproxy package creates it) in an empty chroot of their own.
FRONTDOOR_USER = "haproxy"


def frontdoor_home(state_dir: str) -> str:
    return f"{state_dir}/frontdoor"


def frontdoor_specs(fleet: Fleet, sites: tuple[SiteSpec, ...]) -> tuple[FrontDoorSpec, ...]:
    """Every node's front door routes every site to all of its instances, on whichever node: the
    instances the fleet file asks for (runtime docker), or every node that may run one (swarm: Swarm
    moves instances by itself, and the health checks tell which nodes serve now, with no reload)."""
    spec = fleet.frontdoor
    if spec is None:
        return ()
    addresses = {n.name: n.address for n in fleet.nodes}
    routes = []
    for site, resolved in zip(fleet.sites, sites, strict=True):
        if fleet.runtime == "swarm":
            backends = tuple(Backend(n.name, n.address, site.port) for n in site.eligible(fleet.nodes))
        else:
            backends = tuple(Backend(server_name(i.slot), addresses[i.node], i.port) for i in resolved.instances)
        health = site.health_spec
        routes.append(SiteRoute(
            domain=site.domain,
            aliases=tuple(site.aliases),
            redirect_aliases=site.redirect_aliases,
            health_path=health.http if health is not None else None,
            backends=backends,
        ))
    out = []
    for node in fleet.nodes:
        home = frontdoor_home(node.state_dir)
        # A remote node's HAProxy reads copies of the certificates from its own disk.
        certificates = tuple(spec.certificates) if node.ssh is None else tuple(
            f"{home}/certs/{i}.pem" for i in range(len(spec.certificates)))
        config = FrontDoorConfig(
            log_socket=f"{home}/log.sock", admin_socket=f"{home}/admin.sock",
            bind=node.frontdoor_http or spec.http,
            https_bind=(node.frontdoor_https or spec.https) if spec.https else None,
            certificates=certificates,
            connect_timeout=spec.timeouts.connect, client_timeout=spec.timeouts.client,
            server_timeout=spec.timeouts.server, max_upload=parse_size(spec.max_upload),
            check_interval=spec.check_interval, fall=spec.fall, rise=spec.rise,
            sites=tuple(routes), user=FRONTDOOR_USER, chroot=f"{home}/chroot",
        )
        out.append(FrontDoorSpec(node.name, home, node.storage_root or fleet.storage.root, config,
                                 ssh_access(fleet, node.ssh),
                                 tuple(spec.certificates) if node.ssh is not None else ()))
    return tuple(out)
