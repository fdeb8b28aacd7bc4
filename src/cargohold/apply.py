"""Run a Plan through the backends: pre-flight, ordered execution, rolling replacement, re-observe."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from cargohold.backends import Backends, observe
from cargohold.errors import ApplyFailed, CargoholdError, RuntimeFailure, StorageError
from cargohold.model import Action, Desired, InstanceSpec, Plan
from cargohold.plan import plan as make_plan
from cargohold.runtime.swarm import Rollout, RolloutFailed
from cargohold.storage.glusterfs import GlusterStorage
from cargohold.wait import Timeout, wait_until

Report = Callable[[str], None]


def apply_plan(plan: Plan, desired: Desired, backends: Backends, report: Report = lambda _: None) -> None:
    """Execute exactly `plan`, in order; then observe again and fail if anything still differs."""
    if plan.blockers:
        raise StorageError("refusing to apply, nothing was changed:\n  " + "\n  ".join(plan.blockers))
    _preflight(plan, desired, backends)
    planned = {a.target for a in plan.actions}
    finished: set[str] = set()
    # Swarm services converge on their own: every site's rollout is started, then waited for
    # together, before anything that depends on one of them (10 sites take the time of one).
    rollouts: list[Rollout] = []

    def stopped(target: str, exc: CargoholdError, done: int) -> CargoholdError:
        left = len(plan.actions) - done - 1
        kind = RuntimeFailure if isinstance(exc, RolloutFailed) else type(exc)
        return kind(f"{exc}\napply stopped at {target}; {left} later action(s) not run")

    def wait_for_rollouts(done: int) -> None:
        if not rollouts:
            return
        assert backends.swarm is not None
        try:
            backends.swarm.wait_rollouts(desired.fleet, rollouts)
        except RolloutFailed as exc:
            raise stopped(exc.rollout.target, exc, done) from None
        except RuntimeFailure as exc:
            raise stopped(rollouts[0].target, exc, done) from None
        finally:
            if backends.frontdoors is not None:
                for rollout in rollouts:
                    backends.frontdoors.release_update(rollout.spec.site)
        finished.update(r.target for r in rollouts)
        rollouts.clear()

    for done, action in enumerate(plan.actions):
        if any(dep == r.target for r in rollouts for dep in action.after):
            wait_for_rollouts(done - 1)
        missing = [dep for dep in action.after if dep in planned and dep not in finished]
        if missing:  # plan() orders actions after their dependencies; this guards against a bad plan
            raise ApplyFailed(f"{action.target}: runs before {', '.join(missing)}")
        report(f"{action.kind} {action.target}: {action.reason}")
        try:
            rollout = _execute(action, desired, backends, report)
        except (RuntimeFailure, StorageError) as exc:
            raise stopped(action.target, exc, done) from None
        if rollout is not None:
            rollouts.append(rollout)
        else:
            finished.add(action.target)
    wait_for_rollouts(len(plan.actions) - 1)

    remaining = make_plan(desired, observe(desired, backends))
    if remaining.actions or remaining.blockers:
        lines = [f"{a.kind} {a.target}: {a.reason}" for a in remaining.actions] + list(remaining.blockers)
        raise ApplyFailed("apply finished but the fleet still differs:\n  " + "\n  ".join(lines))


def _preflight(plan: Plan, desired: Desired, backends: Backends) -> None:
    """Check everything that can fail before the first change: storage settings, engines, images."""
    if any(a.step is not None for a in plan.actions) and isinstance(backends.storage, GlusterStorage):
        backends.storage.preflight()
    if backends.frontdoors is not None and any(a.target.startswith("frontdoor ") for a in plan.actions):
        backends.frontdoors.preflight()
    if backends.swarm is not None:
        for image in sorted({a.service.image for a in plan.actions if a.service is not None}):
            backends.swarm.check_image(image)
    starts = [a.instance for a in plan.actions if a.instance is not None]
    for node, image in sorted({(spec.node, spec.image) for spec in starts}):
        backends.runtime.ensure_image(node, image)


def _execute(action: Action, desired: Desired, backends: Backends, report: Report) -> Rollout | None:
    """Run one action; a Swarm service's create or update returns the rollout to wait for."""
    if action.step is not None and action.step.op == "frontdoor-sync":
        assert backends.frontdoors is not None
        # With Swarm the front doors route to every eligible node, whatever runs: no container list.
        instances = () if backends.swarm is not None else backends.runtime.observe(desired.fleet)
        backends.frontdoors.sync_node(action.step.args[0], instances)
        return None
    if backends.swarm is not None and (action.service or action.observed_service or action.step and
                                       action.step.op in SWARM_STEPS):
        return _execute_swarm(action, desired, backends)
    if action.step is not None:
        assert isinstance(backends.storage, GlusterStorage)
        backends.storage.execute(action.step)
        return None
    if action.dir is not None:
        backends.storage.ensure_dir(action.dir)
        return None
    if action.kind == "remove":
        assert action.observed is not None
        if backends.frontdoors is not None:
            backends.frontdoors.drain(action.observed)
        backends.runtime.stop(action.observed)
        return None
    spec = action.instance
    assert spec is not None
    if action.kind == "replace":
        _wait_for_another_healthy(spec, desired, backends, report)
    # The storage guard, right before the start: a missing mount must never send uploads to an empty
    # local directory (checked again here because the world may have changed since observe).
    state = backends.check_node(desired, spec.node)
    if not state.ok:
        raise StorageError(f"refusing to start {spec.target} on {spec.node}: storage at {state.root}: {state.reason}")
    if action.kind == "replace":
        assert action.observed is not None
        if backends.frontdoors is not None:  # no new requests, the ones in flight finish
            backends.frontdoors.drain(action.observed)
        backends.runtime.stop(action.observed)
    container_id = backends.runtime.start(desired.fleet, spec, desired.root_of(spec.node))
    deadline = spec.health.deadline if spec.health else 30.0
    backends.runtime.wait_healthy(spec.node, container_id, deadline)
    if backends.frontdoors is not None:  # back in rotation once the front door's own check passes
        backends.frontdoors.ready(spec.site, spec.slot, deadline)
    return None


SWARM_STEPS = ("swarm-init", "swarm-join", "node-labels")


def _execute_swarm(action: Action, desired: Desired, backends: Backends) -> Rollout | None:
    swarm = backends.swarm
    assert swarm is not None and desired.swarm is not None
    if action.step is not None and action.step.op == "swarm-init":
        swarm.init()
        return None
    if action.step is not None and action.step.op == "swarm-join":
        swarm.join(action.step.args[0])
        return None
    if action.step is not None:  # node-labels
        node, change = action.step.args[0], json.loads(action.step.args[1])
        labels: dict[str, str] = change["set"]
        remove = tuple(change["remove"])
        if desired.swarm.storage_label in labels:
            # The storage guard, right before the node may get instances: the world may have
            # changed since observe (a mount lost), and uploads must never land in an empty directory.
            state = backends.check_node(desired, node)
            if not state.ok:
                raise StorageError(f"refusing to let {node} run instances: storage at {state.root}: {state.reason}")
        swarm.update_node(node, labels, remove)
        return None
    if action.kind == "remove":
        assert action.observed_service is not None
        swarm.remove(action.observed_service)
        return None
    spec = action.service
    assert spec is not None
    if action.observed_service is None:
        swarm.create(desired.fleet, spec)
    else:
        swarm.update(desired.fleet, spec, action.observed_service)
    deadline = spec.health.deadline if spec.health else 60.0
    rounds = -(-spec.replicas // spec.update.parallelism)
    since = action.observed_service.update_started if action.observed_service else ""
    timeout = deadline + rounds * (spec.update.monitor + spec.update.delay + 30)
    doors = backends.frontdoors
    return Rollout(spec, since, time.monotonic() + timeout, target=action.target,
                   watch=(lambda seen: doors.follow_update(spec.site, seen.tasks)) if doors else None)


def _wait_for_another_healthy(spec: InstanceSpec, desired: Desired, backends: Backends, report: Report) -> None:
    """Rolling replacement: take an instance down only while another one of the site serves."""
    site = desired.site(spec.site)
    if site is None or len(site.instances) < 2:
        return

    def another_healthy() -> str:
        others = [
            inst
            for node in {s.node for s in site.instances}
            for inst in backends.runtime.observe_node(node, desired.fleet, spec.site)
            if inst.slot != spec.slot and inst.state == "running"
        ]
        if any(inst.health in ("healthy", "none") for inst in others):
            return "healthy"
        # Nothing is on its way to healthy either: waiting cannot help.
        return "" if any(inst.health == "starting" for inst in others) else "hopeless"

    deadline = spec.health.deadline if spec.health else 30.0
    try:
        outcome = wait_until(another_healthy, deadline, f"another healthy instance of {spec.site}")
    except Timeout:
        outcome = "hopeless"
    if outcome == "hopeless":
        # The site is down already; replacing this instance is how it comes back.
        report(f"warning: no other healthy instance of {spec.site}; replacing {spec.target} anyway")
