"""Server maintenance without downtime (runtime swarm): `node drain` moves a node's instances to
other nodes, `node undrain` lets it take instances again."""

from __future__ import annotations

from cargohold.backends import Backends
from cargohold.errors import UsageError
from cargohold.fleet.schema import Fleet
from cargohold.seam import Report


def _check(fleet: Fleet, node: str) -> None:
    if node not in {n.name for n in fleet.nodes}:
        raise UsageError(f"node {node!r} is not in the fleet file (nodes: {', '.join(n.name for n in fleet.nodes)})")


def drain_node(fleet: Fleet, backends: Backends, node: str, report: Report = lambda _: None) -> list[str]:
    """Front doors first (no new requests to the node, the ones in flight finish), then the runtime
    moves the instances; returns where instances run now."""
    _check(fleet, node)
    return backends.runtime.drain_node(fleet.fleet, node, backends.traffic, report)


def undrain_node(fleet: Fleet, backends: Backends, node: str, report: Report = lambda _: None) -> None:
    _check(fleet, node)
    backends.runtime.undrain_node(fleet.fleet, node, backends.traffic, report)
