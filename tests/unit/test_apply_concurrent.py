"""apply runs a driver's concurrent operations together (bounded per node), and nothing else: a chain
(a rolling replacement) or another driver's action ends a batch; every start ends before a failure
is raised."""

from __future__ import annotations

import threading
import time

import pytest

from cargohold.apply import concurrent_run, run_together
from cargohold.errors import RuntimeFailure
from cargohold.model import Action, DirSpec, EnsureDir, InstanceSpec, StartInstance


class Runtime:
    concurrent = (StartInstance,)


class Storage:
    concurrent: tuple[type, ...] = ()


def start(site: str, slot: int, node: str = "web1", after: tuple[str, ...] = ()) -> Action:
    spec = InstanceSpec(site, slot, node, "img:1", 20000 + slot, (), (), "33:33", None)
    return Action("create", f"instance {site}#{slot}", "missing", StartInstance(spec), after)


def ensure(domain: str) -> Action:
    return Action("create", f"dir files/{domain}", "missing", EnsureDir(DirSpec("files", domain, 33, 33, 0o755)))


OWNER = {StartInstance: Runtime(), EnsureDir: Storage()}


def test_batches_are_consecutive_starts_that_nothing_orders():
    actions = [ensure("a"), ensure("b"), start("a", 1), start("a", 2), start("b", 1),
               start("b", 2, after=("instance b#1",)), ensure("c"), start("c", 1)]
    assert [a.target for a in concurrent_run(actions, 0, OWNER)] == ["dir files/a"]
    assert [a.target for a in concurrent_run(actions, 2, OWNER)] == ["instance a#1", "instance a#2", "instance b#1"]
    assert [a.target for a in concurrent_run(actions, 5, OWNER)] == ["instance b#2"]
    assert [a.target for a in concurrent_run(actions, 6, OWNER)] == ["dir files/c"]


def test_run_together_bounds_each_node_and_waits_for_all_before_raising(monkeypatch):
    monkeypatch.setattr("cargohold.apply.os.cpu_count", lambda: 2)
    running: dict[str, int] = {"web1": 0, "web2": 0}
    peak: dict[str, int] = {"web1": 0, "web2": 0}
    done: list[str] = []
    lock = threading.Lock()

    def run_one(action: Action, _done: int) -> None:
        node = action.node or ""
        with lock:
            running[node] += 1
            peak[node] = max(peak[node], running[node])
        time.sleep(0.05)
        with lock:
            running[node] -= 1
            done.append(action.target)
        if action.target == "instance a#3":
            raise RuntimeFailure("a#3 never became healthy")

    batch = [start("a", i, node=f"web{1 + i % 2}") for i in range(1, 9)]
    with pytest.raises(RuntimeFailure, match="a#3"):
        run_together(batch, 0, run_one)
    assert sorted(done) == sorted(a.target for a in batch), "every start ended before the failure was raised"
    assert peak == {"web1": 2, "web2": 2}
