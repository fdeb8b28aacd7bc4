"""Pieces of simulated worlds the plan tests share."""

from __future__ import annotations

from cargohold.model import FrontDoorSpec, ObservedFrontDoor
from cargohold.plan.frontdoor import servers_of


def converged_door(spec: FrontDoorSpec) -> ObservedFrontDoor:
    """A front door running exactly `spec` (what the HAProxy driver's observe reports then)."""
    return ObservedFrontDoor(spec.node, True, spec.config.config_hash(),
                             tuple(sorted(servers_of(spec.config.sites).items())))
