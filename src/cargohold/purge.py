"""`site purge`: delete a site's storage areas, only once nothing of it runs and only the areas
cargohold created for it, on a root that carries the fleet's marker."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.backends import Backends, observe
from cargohold.errors import RuntimeFailure, UsageError
from cargohold.fleet.desired import desired_state
from cargohold.fleet.fields import check_domain
from cargohold.fleet.schema import Fleet
from cargohold.model import Usage


@dataclass(frozen=True)
class PurgeCandidate:
    domain: str
    root: str
    dirs: tuple[tuple[str, Usage | None], ...]  # (relpath, what it holds)


def purge_candidate(fleet: Fleet, backends: Backends, domain: str) -> PurgeCandidate:
    """What `purge` would delete; refuses (changing nothing) a site that is still in the fleet file,
    still runs somewhere, or a root that is not the fleet's own."""
    try:
        check_domain(domain)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if any(s.domain == domain for s in fleet.sites):
        raise UsageError(f"{domain} is still in the fleet file; remove it and run apply before purging its data")
    observed = observe(desired_state(fleet), backends, drivers=(backends.runtime,))  # what runs, nothing else
    left = backends.runtime.site_left(observed, domain)
    if left:
        raise UsageError(f"{domain} still has {left}; run apply to remove what runs first")
    root = backends.storage.check_root(fleet.fleet)
    if not root.ok:  # another fleet's root, or an unmounted one: not ours to delete from
        raise RuntimeFailure(f"storage root {root.root}: {root.reason}; nothing was deleted")
    dirs = tuple((rel, backends.storage.usage(rel)) for rel in backends.storage.site_dirs(domain))
    return PurgeCandidate(domain, backends.storage.root, dirs)


def purge(backends: Backends, candidate: PurgeCandidate) -> list[str]:
    return backends.storage.purge(candidate.domain)
