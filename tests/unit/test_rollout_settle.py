"""When a Swarm rollout counts as done: as soon as its outcome can no longer change (every task on
the new version, seen running for longer than the update's monitor period), not when Swarm gets
round to saying "completed"; a rollback is a failure."""

from __future__ import annotations

import pytest

from cargohold.model import ObservedService, ObservedSwarm, ObservedTask, ServiceSpec, SwarmNode, UpdatePolicy
from cargohold.runtime.swarm import rollout as mod
from cargohold.runtime.swarm.rollout import Rollout, RolloutFailed, all_new_running, settled

SPEC = ServiceSpec("a.example.com", "img:2", 2, 8080, (), (), "/srv/storage", "33:33", None, (),
                   UpdatePolicy(1, 3.0, "stop-first", 5.0, "rollback"), 10.0)


def task(node: str, state: str = "running", current: bool = True, desired: str = "running") -> ObservedTask:
    return ObservedTask(1, node, state, desired, "img:2" if current else "img:1", "", current)


def service(state: str, *tasks: ObservedTask) -> ObservedService:
    return ObservedService("a.example.com", "id", 2, "h", {}, update_state=state, update_started="t2", tasks=tasks)


SWARM = ObservedSwarm(True, tuple(SwarmNode(n, n, "ready", "active", "10.0.0.1", False, ()) for n in ("web1", "web2")))


def test_all_new_running_needs_every_wanted_task_on_the_new_version():
    assert all_new_running(service("updating", task("web1"), task("web2")), 2)
    assert not all_new_running(service("updating", task("web1"), task("web2", current=False)), 2)
    assert not all_new_running(service("updating", task("web1"), task("web2", "starting")), 2)
    assert not all_new_running(service("updating", task("web1")), 2)
    old = task("web2", "shutdown", current=False, desired="shutdown")
    assert all_new_running(service("updating", task("web1"), task("web2"), old), 2)


def test_an_update_is_done_a_monitor_period_after_every_task_runs_the_new_version(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: clock[0])
    roll, stable = Rollout(SPEC, "t1", 1e9, follow=True), {}
    half = service("updating", task("web1"), task("web2", "starting"))
    done = service("updating", task("web1"), task("web2"))
    assert not settled(roll, half, SWARM, stable)
    assert not settled(roll, done, SWARM, stable)  # first seen: the monitor period starts now
    clock[0] += 5.0
    assert not settled(roll, done, SWARM, stable)
    assert not settled(roll, half, SWARM, stable)  # a task restarted: the period starts again
    clock[0] += 0.1
    assert not settled(roll, done, SWARM, stable)
    clock[0] += 5.0 + mod.SETTLE_MARGIN
    assert settled(roll, done, SWARM, stable)
    assert settled(Rollout(SPEC, "t1", 1e9), service("completed", task("web1"), task("web2")), SWARM, {})


def test_a_rolled_back_update_fails_once_the_rollback_is_over():
    roll = Rollout(SPEC, "t1", 1e9, target="service a.example.com")
    assert not settled(roll, service("rollback_started", task("web1", current=False)), SWARM, {})
    with pytest.raises(RolloutFailed, match="rolled it back"):
        settled(roll, service("rollback_completed", task("web1", current=False)), SWARM, {})
