"""Run a Plan through the drivers: pre-flight, ordered execution, waiting for what goes on by itself
(rollouts), re-observe. Each action goes to the driver that owns its operation's type."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from cargohold.backends import Backends, observe
from cargohold.errors import ApplyFailed, CargoholdError, RuntimeFailure, StorageError
from cargohold.model import Action, Desired, Observed, Plan
from cargohold.plan import plan as make_plan
from cargohold.seam import Context, Driver, Pending, PendingFailed, Report


def owners(plan: Plan, backends: Backends) -> dict[type, Driver]:
    """operation type -> the driver that executes it; refuses a plan with an operation no driver owns."""
    by_type = {op: driver for driver in backends.drivers for op in driver.ops}
    for action in plan.actions:
        if type(action.op) not in by_type:
            raise ApplyFailed(f"{action.target}: no driver of this fleet executes {type(action.op).__name__}")
    return by_type


def concurrent_run(actions: Sequence[Action], start: int, owner: dict[type, Driver]) -> list[Action]:
    """The actions from `start` that may run at once: consecutive operations of one driver that it
    lists as concurrent, none ordered after another of them (a rolling replacement never is)."""
    first = actions[start]
    driver = owner[type(first.op)]
    if type(first.op) not in driver.concurrent:
        return [first]
    batch = [first]
    for action in actions[start + 1:]:
        if owner[type(action.op)] is not driver or type(action.op) not in driver.concurrent:
            break
        if any(dep in {a.target for a in batch} for dep in action.after):
            break
        batch.append(action)
    return batch


def run_together(batch: Sequence[Action], done: int, run_one: Callable[[Action, int], None]) -> None:
    """Run `batch` with at most one action per core on each node at a time; every one of them ends
    (succeeds or fails) before the first failure is raised."""
    per_node = max(1, os.cpu_count() or 1)
    slots: dict[str | None, threading.Semaphore] = {a.node: threading.Semaphore(per_node) for a in batch}

    def bounded(action: Action) -> None:
        with slots[action.node]:
            run_one(action, done)

    with ThreadPoolExecutor(max_workers=min(len(batch), per_node * len(slots))) as pool:
        futures = [pool.submit(bounded, action) for action in batch]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first


def apply_plan(plan: Plan, desired: Desired, backends: Backends, report: Report = lambda _: None) -> Observed:
    """Execute exactly `plan`, in order; then observe again and fail if anything still differs.
    Returns that last observation."""
    if plan.blockers:
        raise StorageError("refusing to apply, nothing was changed:\n  " + "\n  ".join(plan.blockers))
    owner = owners(plan, backends)
    for driver in backends.drivers:  # everything that can fail is checked before the first change
        driver.preflight([a for a in plan.actions if owner[type(a.op)] is driver], desired)
    ctx = Context(desired, backends.traffic, lambda node: backends.storage.check_node(node, desired.fleet), report)
    planned = {a.target for a in plan.actions}
    finished: set[str] = set()
    # What goes on by itself (a Swarm rollout) is started, then waited for together with the others of
    # its driver, before anything that depends on one of them (10 sites' rollouts take the time of one).
    pending: dict[str, tuple[Driver, Pending]] = {}

    def stopped(target: str, exc: CargoholdError, done: int) -> CargoholdError:
        left = len(plan.actions) - done - 1
        kind = RuntimeFailure if isinstance(exc, PendingFailed) else type(exc)
        return kind(f"{exc}\napply stopped at {target}; {left} later action(s) not run")

    def wait_pending(done: int) -> None:
        for driver in dict.fromkeys(d for d, _ in pending.values()):
            mine = [p for d, p in pending.values() if d is driver]
            try:
                driver.wait(mine, ctx)
            except PendingFailed as exc:
                raise stopped(exc.target, exc, done) from None
        finished.update(pending)
        pending.clear()

    def check_order(action: Action, done: int) -> None:
        if any(dep in pending for dep in action.after):
            wait_pending(done - 1)
        missing = [dep for dep in action.after if dep in planned and dep not in finished]
        if missing:  # plan() orders actions after their dependencies; this guards against a bad plan
            raise ApplyFailed(f"{action.target}: runs before {', '.join(missing)}")

    def run_one(action: Action, done: int) -> None:
        report(f"{action.kind} {action.target}: {action.reason}")
        driver = owner[type(action.op)]
        try:
            started = driver.execute(action, ctx)
        except (RuntimeFailure, StorageError) as exc:
            raise stopped(action.target, exc, done) from None
        if started is not None:
            pending[action.target] = (driver, started)
        else:
            finished.add(action.target)

    done = 0
    while done < len(plan.actions):
        batch = concurrent_run(plan.actions, done, owner)
        for action in batch:
            check_order(action, done)
        if len(batch) == 1:
            run_one(batch[0], done)
        else:
            run_together(batch, done, run_one)
        done += len(batch)
    wait_pending(len(plan.actions) - 1)

    observed = observe(desired, backends)
    remaining = make_plan(desired, observed)
    if remaining.actions or remaining.blockers:
        lines = [f"{a.kind} {a.target}: {a.reason}" for a in remaining.actions] + list(remaining.blockers)
        raise ApplyFailed("apply finished but the fleet still differs:\n  " + "\n  ".join(lines))
    return observed
