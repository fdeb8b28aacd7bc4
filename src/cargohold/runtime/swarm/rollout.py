"""Waiting for Swarm rollouts: every site's create or update observed together, each settled when
its outcome is known (a rolled-back update is a failure), the front doors told what changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cargohold.model import ObservedService, ObservedSwarm, ObservedTask, ServiceSpec
from cargohold.seam import PendingFailed

# Seen running on the new version for the update's monitor period and this long: past rollback.
SETTLE_MARGIN = 0.5
FAILED_UPDATE = ("rollback_started", "rollback_completed", "rollback_paused", "paused")
POLL = 0.1


@dataclass(frozen=True)
class Rollout:
    """A service create or update Swarm carries out."""

    spec: ServiceSpec
    since: str  # UpdateStatus.StartedAt before ours
    deadline: float  # time.monotonic()
    # An update is followed by the front doors (a changing node gets no new requests); a new
    # service is not: the doors learn its servers only after it runs (SyncFrontDoor comes after).
    follow: bool = False
    target: str = ""  # the plan's action


class RolloutFailed(PendingFailed):
    def __init__(self, rollout: Rollout, message: str) -> None:
        super().__init__(rollout.target, message)
        self.rollout = rollout


def placeable(constraints: Sequence[str], swarm: ObservedSwarm) -> list[str]:
    """Nodes where Swarm may run a service now: ready, active, with every constraint's label."""
    wanted = [c.removeprefix("node.labels.").split("==", 1) for c in constraints]
    return [n.name for n in swarm.nodes if n.state == "ready" and n.availability == "active"
            and all(dict(n.labels).get(k) == v for k, v in wanted)]


def wait_rollouts(observe: Callable[[], ObservedSwarm], rollouts: Sequence[Rollout],
                  watch: Callable[[dict[str, tuple[ObservedTask, ...]]], None] | None = None) -> None:
    """Until every service's new version runs on as many nodes as can take it, observing all of
    them together (their rollouts proceed side by side in Swarm). `watch` sees each poll's tasks of
    every followed site still rolling out, in one call. A rolled-back update is a failure, raised
    after the rollback has finished, so the old version serves again."""
    pending = list(rollouts)
    stable: dict[str, float] = {}  # site -> when every task was first seen running the new version
    while pending:
        swarm = observe()
        services: dict[str, ObservedService] = {}
        for rollout in pending:
            seen = swarm.service(rollout.spec.site)
            if seen is None:
                raise RolloutFailed(rollout, f"{rollout.spec.target}: the service disappeared")
            services[rollout.spec.site] = seen
        followed = {r.spec.site: services[r.spec.site].tasks for r in pending if r.follow}
        if watch is not None and followed:
            watch(followed)
        for rollout in list(pending):
            seen = services[rollout.spec.site]
            if settled(rollout, seen, swarm, stable):
                pending.remove(rollout)
            elif time.monotonic() > rollout.deadline:
                raise RolloutFailed(rollout, timed_out(rollout, seen, swarm))
        if pending:
            time.sleep(POLL)


def settled(rollout: Rollout, seen: ObservedService, swarm: ObservedSwarm, stable: dict[str, float]) -> bool:
    spec = rollout.spec
    # The outcome of the update before ours (its start time is `since`) does not count.
    stale = bool(rollout.since) and seen.update_started == rollout.since
    if seen.update_state in FAILED_UPDATE and not stale:
        if seen.update_state == "rollback_started":
            return False
        raise RolloutFailed(rollout, f"{spec.site}: the new version failed ({failure(spec, seen)}) and Swarm "
                                     f"rolled it back ({seen.update_state.replace('_', ' ')})")
    expected = min(spec.replicas, len(placeable(spec.constraints, swarm)))
    if seen.update_state == "updating" and not stale:
        # Swarm marks the update completed only after its update delay and one more monitor period,
        # but the outcome is known earlier: Swarm rolls back only for a task of the update that
        # fails within `monitor` of reaching running (swarmkit's updater). Once every task runs the
        # new version and was seen running for longer than that, nothing can roll it back.
        if not all_new_running(seen, expected):
            stable.pop(spec.site, None)
            return False
        first = stable.setdefault(spec.site, time.monotonic())
        return time.monotonic() - first >= spec.update.monitor + SETTLE_MARGIN
    return bool(expected) and len([t for t in seen.running() if t.current]) >= expected


def all_new_running(seen: ObservedService, expected: int) -> bool:
    """Every task meant to run runs the service's current version, and at least `expected` of them."""
    wanted = [t for t in seen.tasks if t.desired == "running"]
    return expected > 0 and len(wanted) >= expected and all(t.current and t.state == "running" for t in wanted)


def failure(spec: ServiceSpec, seen: ObservedService) -> str:
    """Why the new version's instances stopped, in Swarm's words, or the health check they failed."""
    why = sorted({t.message for t in seen.tasks if t.version == spec.task_hash() and t.message
                  and t.state in ("failed", "rejected", "shutdown", "complete")} - {"shutdown", "finished"})
    if why:
        return "; ".join(why)
    if spec.health is not None:
        return f"its instances did not stay healthy: health check {spec.health.http or spec.health.command}"
    return seen.update_message or "its instances stopped"


def timed_out(rollout: Rollout, seen: ObservedService, swarm: ObservedSwarm) -> str:
    errors = sorted({t.message for t in seen.tasks if t.desired == "running" and t.message
                     and t.state != "running"})
    hint = f"; tasks say: {'; '.join(errors)}" if errors else ""
    if not placeable(rollout.spec.constraints, swarm):
        hint += "; no node can take it (storage label, placement labels, node down or drained)"
    return f"{rollout.spec.site}: the new version did not run everywhere in time{hint}"
