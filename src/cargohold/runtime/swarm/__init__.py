"""The swarm runtime driver: one Swarm service per site; Swarm places and rolls the instances, and
cargohold keeps the swarm itself, its nodes' labels (the storage guard) and the services."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from cargohold.errors import RuntimeFailure, StorageError
from cargohold.model import (
    Action,
    CreateService,
    Desired,
    InitSwarm,
    JoinSwarm,
    Observed,
    RemoveService,
    SetNodeLabels,
    UpdateService,
)
from cargohold.runtime.engines import Engines, build_image, container_logs, push_image
from cargohold.runtime.swarm.rollout import Rollout, RolloutFailed
from cargohold.runtime.swarm.services import SwarmRuntime, service_name
from cargohold.seam import Context, LogStream, NoTraffic, Pending, PendingFailed, Report, Traffic

__all__ = ["Rollout", "RolloutFailed", "SwarmDriver", "SwarmRuntime"]

MOVE_TIMEOUT = 180.0  # node drain: for Swarm to move the node's instances elsewhere


class SwarmDriver:
    name = "swarm"
    ops: tuple[type, ...] = (InitSwarm, JoinSwarm, SetNodeLabels, CreateService, UpdateService, RemoveService)
    fills: tuple[str, ...] = ("swarm", "instances")
    concurrent: tuple[type, ...] = ()

    def __init__(self, desired: Desired, engines: Engines) -> None:
        assert desired.swarm is not None
        self.swarm = SwarmRuntime(desired.swarm, engines)

    def close(self) -> None:
        self.swarm.close()

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        # Swarm places the instances: the engines hold no containers of cargohold's own.
        seen = self.swarm.observe(desired.fleet)
        if detail:  # a dead engine is told at once, before Swarm's heartbeats notice
            ours = [n for n in seen.nodes if n.name in desired.nodes]
            with ThreadPoolExecutor(max_workers=max(1, len(ours))) as pool:  # a dead one costs its timeout once
                problems = dict(zip((n.name for n in ours), pool.map(self.swarm.engine_problem, [n.name for n in ours]),
                                    strict=True))
            seen = replace(seen, nodes=tuple(replace(n, engine=problems[n.name]) if n.name in problems else n
                                             for n in seen.nodes))
        return replace(observed, swarm=seen, instances=())

    def preflight(self, actions: Sequence[Action], desired: Desired) -> None:
        images = {a.op.spec.image for a in actions if isinstance(a.op, CreateService | UpdateService)}
        for image in sorted(images):
            self.swarm.check_image(image)

    def execute(self, action: Action, ctx: Context) -> Pending | None:
        op = action.op
        if isinstance(op, InitSwarm):
            self.swarm.init()
        elif isinstance(op, JoinSwarm):
            self.swarm.join(op.node)
        elif isinstance(op, SetNodeLabels):
            if op.storage_label:
                # The storage guard, right before the node may get instances: the world may have
                # changed since observe (a mount lost), and uploads must never land in an empty directory.
                state = ctx.check_storage(op.node)
                if not state.ok:
                    raise StorageError(f"refusing to let {op.node} run instances: storage at {state.root}: "
                                       f"{state.reason}")
            self.swarm.update_node(op.node, dict(op.set), op.remove)
        elif isinstance(op, RemoveService):
            self.swarm.remove(op.old)
        elif isinstance(op, CreateService | UpdateService):
            return self._roll_out(action, op, ctx)
        return None

    def _roll_out(self, action: Action, op: CreateService | UpdateService, ctx: Context) -> Rollout:
        spec = op.spec
        old = op.old if isinstance(op, UpdateService) else None
        if old is None:
            self.swarm.create(ctx.desired.fleet, spec)
        else:
            self.swarm.update(ctx.desired.fleet, spec, old)
        deadline = spec.health.deadline if spec.health else 60.0
        rounds = -(-spec.replicas // spec.update.parallelism)
        timeout = deadline + rounds * (spec.update.monitor + spec.update.delay + 30)
        return Rollout(spec, old.update_started if old else "", time.monotonic() + timeout, follow=old is not None,
                       target=action.target)

    def wait(self, pending: Sequence[Pending], ctx: Context) -> None:
        """Every site's rollout together (10 sites take the time of one)."""
        rollouts = [p for p in pending if isinstance(p, Rollout)]
        try:
            self.swarm.wait_rollouts(ctx.desired.fleet, rollouts, watch=ctx.traffic.follow_updates)
        except RolloutFailed:
            raise
        except RuntimeFailure as exc:
            raise PendingFailed(rollouts[0].target, str(exc)) from None
        finally:
            ctx.traffic.release_updates([rollout.spec.site for rollout in rollouts])

    # -- what other commands ask of the runtime ---------------------------------------------

    def build(self, node: str, context: str, ref: str, progress: Report) -> str:
        return build_image(self.swarm.engines, node, context, ref, progress)

    def push(self, node: str, repository: str, tag: str, progress: Report) -> None:
        push_image(self.swarm.engines, node, repository, tag, progress)

    def log_streams(self, fleet: str, site: str) -> list[LogStream]:
        """The service's task containers, read on each node's own engine (the manager's `service logs`
        would relay every node's lines through one engine)."""
        def slot(labels: Mapping[str, str]) -> str:  # task name: <service>.<slot>.<task id>
            parts = labels.get("com.docker.swarm.task.name", "").split(".")
            return parts[-2] if len(parts) >= 3 else ""

        return list(container_logs(self.swarm.engines,
                                   [f"com.docker.swarm.service.name={service_name(fleet, site)}"], slot))

    def site_left(self, observed: Observed, domain: str) -> str:
        return "a Swarm service" if observed.swarm is not None and observed.swarm.service(domain) else ""

    def drain_node(self, fleet: str, node: str, traffic: Traffic, report: Report) -> list[str]:
        """Front doors first (no new requests to the node, the ones in flight finish), then Swarm moves
        the instances; returns when none runs there and every site is back at the count it can have."""
        if not isinstance(traffic, NoTraffic):
            report(f"front doors: draining {node}")
        traffic.set_node(node, "drain")
        report(f"swarm: {node} availability drain")
        self.swarm.update_node(node, availability="drain")
        self.swarm.wait_moved_off(fleet, node, MOVE_TIMEOUT)
        swarm = self.swarm.observe(fleet)
        return [f"{s.site}#{t.slot}@{t.node}" for s in swarm.services for t in s.running()]

    def undrain_node(self, fleet: str, node: str, traffic: Traffic, report: Report) -> None:
        """The node takes instances again: Swarm places new and rescheduled ones there (it does not
        move running ones back by itself)."""
        report(f"swarm: {node} availability active")
        self.swarm.update_node(node, availability="active")
        traffic.set_node(node, "ready")
