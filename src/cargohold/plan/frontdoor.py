"""The front-door side of the pure diff: which node's HAProxy must load another configuration, and
which sites and servers change in it. No I/O."""

from __future__ import annotations

from cargohold.model import Action, Desired, Observed, ObservedFrontDoor, SiteRoute, SyncFrontDoor


def servers_of(routes: tuple[SiteRoute, ...]) -> dict[str, tuple[str, ...]]:
    """Each site's servers as `name address:port`, the form ObservedFrontDoor.servers has."""
    return {route.domain: tuple(sorted(f"{b.name} {b.address}:{b.port}" for b in route.backends))
            for route in routes}


def _changes(want: dict[str, tuple[str, ...]], seen: ObservedFrontDoor) -> str:
    have = dict(seen.servers)
    parts = []
    for site in sorted(set(want) | set(have)):
        if site not in have:
            parts.append(f"site {site} added")
        elif site not in want:
            parts.append(f"site {site} removed")
        else:
            added = sorted(set(want[site]) - set(have[site]))
            gone = sorted(set(have[site]) - set(want[site]))
            if added or gone:
                parts.append(f"{site}: " + ", ".join([f"+{s}" for s in added] + [f"-{s}" for s in gone]))
    if parts:
        return "; ".join(parts)
    if not seen.config_hash:
        return "runs a configuration cargohold did not render (or an older version did)"
    return "settings changed (timeouts, binds, certificates or health checks)"


def frontdoor_actions(desired: Desired, observed: Observed, instance_targets: tuple[str, ...]) -> list[Action]:
    """One sync per node whose front door is down or runs another configuration; after every
    instance change of the plan (a new server must answer before it is routed to)."""
    out = []
    for spec in desired.frontdoors:
        seen = observed.frontdoor(spec.node)
        if seen is None or not seen.running:
            reason = "not running"
        elif seen.config_hash == spec.config.config_hash():
            continue
        else:
            reason = _changes(servers_of(spec.config.sites), seen)
        out.append(Action("update", spec.target, reason, SyncFrontDoor(spec), instance_targets))
    return out
