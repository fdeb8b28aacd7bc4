"""The fleet's front doors: one HAProxy per web node, every one routing to the instances on every
node, configured from the instances the runtime reports."""

from __future__ import annotations

import os

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.fleet.fields import parse_size
from cargohold.fleet.schema import Fleet
from cargohold.frontdoor.config import Backend, FrontDoorConfig, SiteRoute, render
from cargohold.frontdoor.haproxy import HAPROXY_USER, HAProxy
from cargohold.model import ObservedInstance, ObservedTask
from cargohold.wait import Timeout, wait_until


def server_name(slot: int) -> str:
    return f"i{slot}"


class FrontDoors:
    def __init__(self, fleet: Fleet) -> None:
        assert fleet.frontdoor is not None
        self.fleet = fleet
        self.spec = fleet.frontdoor
        self.doors = {n.name: HAProxy(n.name, f"{n.state_dir}/frontdoor") for n in fleet.nodes}
        self.binds = {n.name: n.frontdoor_http or self.spec.http for n in fleet.nodes}
        self.roots = {n.name: n.storage_root or fleet.storage.root for n in fleet.nodes}
        self.held: dict[str, dict[str, str]] = {}  # site -> node -> state set while following an update
        self.https = {n.name: (n.frontdoor_https or self.spec.https) if self.spec.https else None
                      for n in fleet.nodes}

    def render(self, node: str, instances: tuple[ObservedInstance, ...]) -> str:
        addresses = {n.name: n.address for n in self.fleet.nodes}
        routes = []
        for site in self.fleet.sites:
            health = site.health_spec
            if self.fleet.runtime == "swarm":
                # Swarm moves instances between nodes by itself: every node that may run one is a
                # server, and the health checks tell which of them serve now (no reload on a move).
                backends = tuple(Backend(n.name, n.address, site.port) for n in site.eligible(self.fleet.nodes))
            else:
                running = sorted((i for i in instances if i.site == site.domain and i.state == "running"
                                  and i.slot <= site.instances), key=lambda i: i.slot)
                backends = tuple(Backend(server_name(i.slot), addresses.get(i.node, "127.0.0.1"), i.port)
                                 for i in running)
            routes.append(SiteRoute(
                domain=site.domain,
                aliases=tuple(site.aliases),
                redirect_aliases=site.redirect_aliases,
                health_path=health.http if health is not None else None,
                backends=backends,
            ))
        door = self.doors[node]
        return render(FrontDoorConfig(
            log_socket=str(door.home / "log.sock"), admin_socket=str(door.admin),
            bind=self.binds[node], https_bind=self.https[node], certificates=tuple(self.spec.certificates),
            connect_timeout=self.spec.timeouts.connect, client_timeout=self.spec.timeouts.client,
            server_timeout=self.spec.timeouts.server, max_upload=parse_size(self.spec.max_upload),
            check_interval=self.spec.check_interval, fall=self.spec.fall, rise=self.spec.rise,
            sites=tuple(routes), user=HAPROXY_USER, chroot=str(door.chroot),
        ))

    def differs(self, instances: tuple[ObservedInstance, ...]) -> list[str]:
        """Nodes whose front door is not running the configuration these instances call for."""
        out = []
        for node, door in self.doors.items():
            text = self.render(node, instances)
            if not door.running() or not door.config.exists() or door.config.read_text() != text:
                out.append(node)
        return out

    def preflight(self) -> None:
        """What `haproxy -c` would only half-explain, said with the field's name."""
        for i, path in enumerate(self.spec.certificates):
            if not os.path.isfile(path):
                raise UsageError(f"frontdoor.certificates[{i}]: {path} does not exist")

    def sync_node(self, node: str, instances: tuple[ObservedInstance, ...]) -> str:
        door = self.doors[node]
        door.ensure_log_writer(self.roots[node])
        return door.apply(self.render(node, instances))

    def drain(self, instance: ObservedInstance) -> None:
        for door in self.doors.values():
            door.drain(instance.site, server_name(instance.slot))

    def set_node(self, node: str, state: str) -> None:
        """runtime swarm: take `node`'s server of every site out of rotation (drain) or put it back
        (ready), in every front door; requests in flight finish."""
        for door in self.doors.values():
            if door.running():
                for site in self.fleet.sites:
                    if any(n.name == node for n in site.eligible(self.fleet.nodes)):
                        if state == "drain":
                            door.drain(site.domain, node)  # waits (bounded) for its requests in flight
                        else:
                            door.set_state(site.domain, node, state)

    def follow_update(self, site: str, tasks: tuple[ObservedTask, ...]) -> None:
        """runtime swarm, while Swarm rolls an update out: a node whose instance is stopping or not
        yet healthy gets no new requests (drain) — so a new version that fails its health check never
        serves, even before the front door's own checks notice; a node with a healthy instance gets
        them again. Only changes reach HAProxy."""
        held = self.held.setdefault(site, {})
        serving = {t.node for t in tasks if t.desired == "running" and t.state == "running"}
        changing = {t.node for t in tasks if t.node and (
            (t.desired != "running" and t.state in ("running", "starting")) or
            (t.desired == "running" and t.state in ("assigned", "accepted", "preparing", "ready", "starting")))}
        for node in sorted(serving | changing):
            state = "drain" if node in changing else "ready"
            if held.get(node) != state:
                held[node] = state
                for door in self.doors.values():
                    if door.running():
                        door.set_state(site, node, state)

    def release_update(self, site: str) -> None:
        """After the update: the front doors' health checks alone decide again."""
        held = self.held.pop(site, {})
        for node, state in held.items():
            if state != "ready":
                for door in self.doors.values():
                    if door.running():
                        door.set_state(site, node, "ready")

    def ready(self, site: str, slot: int, timeout: float) -> None:
        """Out of drain, and wait until every front door's own health check has it UP: replacing
        the next instance before that would leave the site with no server to send requests to."""
        name = server_name(slot)
        for door in self.doors.values():
            if door.running() and door.set_state(site, name, "ready"):

                def up(d: HAProxy = door) -> bool:
                    return (d.server_state(site, name) or "").startswith("UP")

                try:
                    wait_until(up, timeout, f"{site}/{name} UP in the front door on {door.node}", interval=0.1)
                except Timeout as exc:
                    raise RuntimeFailure(str(exc)) from None

    def stop(self) -> None:
        for door in self.doors.values():
            door.stop()
