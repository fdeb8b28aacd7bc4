"""Server maintenance without downtime (runtime swarm): `node drain` moves a node's instances to
other nodes, `node undrain` lets it take instances again."""

from __future__ import annotations

from collections.abc import Callable

from cargohold.backends import Backends
from cargohold.errors import UsageError
from cargohold.fleet.schema import Fleet

Report = Callable[[str], None]
MOVE_TIMEOUT = 180.0


def _check(fleet: Fleet, backends: Backends, node: str) -> None:
    if backends.swarm is None:
        raise UsageError("node drain/undrain needs runtime: swarm (with runtime docker, edit the sites' nodes)")
    if node not in {n.name for n in fleet.nodes}:
        raise UsageError(f"node {node!r} is not in the fleet file (nodes: {', '.join(n.name for n in fleet.nodes)})")


def drain_node(fleet: Fleet, backends: Backends, node: str, report: Report = lambda _: None) -> list[str]:
    """Front doors first (no new requests to the node, the ones in flight finish), then Swarm moves
    the instances; returns when none runs there and every site is back at the count it can have."""
    _check(fleet, backends, node)
    assert backends.swarm is not None
    if backends.frontdoors is not None:
        report(f"front doors: draining {node}")
        backends.frontdoors.set_node(node, "drain")
    report(f"swarm: {node} availability drain")
    backends.swarm.update_node(node, availability="drain")
    backends.swarm.wait_moved_off(fleet.fleet, node, MOVE_TIMEOUT)
    swarm = backends.swarm.observe(fleet.fleet)
    return [f"{s.site}#{t.slot}@{t.node}" for s in swarm.services for t in s.running()]


def undrain_node(fleet: Fleet, backends: Backends, node: str, report: Report = lambda _: None) -> None:
    """The node takes instances again: Swarm places new and rescheduled ones there (it does not
    move running ones back by itself)."""
    _check(fleet, backends, node)
    assert backends.swarm is not None
    report(f"swarm: {node} availability active")
    backends.swarm.update_node(node, availability="active")
    if backends.frontdoors is not None:
        backends.frontdoors.set_node(node, "ready")
