"""The docker runtime driver: each instance is a container cargohold starts on the node the fleet
file gives it, replaced one after the other (rolling) and taken out of the front doors first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cargohold.errors import StorageError, UsageError
from cargohold.model import (
    Action,
    Desired,
    InstanceSpec,
    Observed,
    RemoveInstance,
    ReplaceInstance,
    StartInstance,
    server_name,
)
from cargohold.runtime.docker.containers import DockerRuntime
from cargohold.runtime.engines import (
    LABEL_FLEET,
    LABEL_SITE,
    LABEL_SLOT,
    Engines,
    build_image,
    container_logs,
    push_image,
)
from cargohold.seam import Context, LogStream, Pending, Report, Traffic
from cargohold.wait import Timeout, wait_until

__all__ = ["LABEL_FLEET", "DockerDriver", "DockerRuntime"]

HEALTH_DEADLINE = 30.0  # for an instance without a health check: until it runs


class DockerDriver:
    name = "docker"
    ops: tuple[type, ...] = (StartInstance, ReplaceInstance, RemoveInstance)
    fills: tuple[str, ...] = ("instances",)
    concurrent: tuple[type, ...] = (StartInstance,)

    def __init__(self, engines: Engines) -> None:
        self.runtime = DockerRuntime(engines)

    def close(self) -> None:
        self.runtime.close()

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        instances, unreachable = self.runtime.observe_reachable(desired.fleet)
        return replace(observed, instances=instances, unreachable=unreachable)

    def preflight(self, actions: Sequence[Action], desired: Desired) -> None:
        starts = [a.op.spec for a in actions if isinstance(a.op, StartInstance | ReplaceInstance)]
        for node, image in sorted({(spec.node, spec.image) for spec in starts}):
            self.runtime.ensure_image(node, image)

    def execute(self, action: Action, ctx: Context) -> Pending | None:
        op = action.op
        if isinstance(op, RemoveInstance):
            ctx.traffic.drain(op.old.site, server_name(op.old.slot))
            self.runtime.stop(op.old)
            return None
        assert isinstance(op, StartInstance | ReplaceInstance)
        spec = op.spec
        if isinstance(op, ReplaceInstance):
            self._wait_for_another_healthy(spec, ctx)
        # The storage guard, right before the start: a missing mount must never send uploads to an empty
        # local directory (checked again here because the world may have changed since observe).
        state = ctx.check_storage(spec.node)
        if not state.ok:
            raise StorageError(f"refusing to start {spec.target} on {spec.node}: storage at {state.root}: "
                               f"{state.reason}")
        if isinstance(op, ReplaceInstance):  # no new requests, the ones in flight finish
            ctx.traffic.drain(op.old.site, server_name(op.old.slot))
            self.runtime.stop(op.old)
        container_id = self.runtime.start(ctx.desired.fleet, spec, ctx.desired.root_of(spec.node))
        deadline = spec.health.deadline if spec.health else HEALTH_DEADLINE
        self.runtime.wait_healthy(spec.node, container_id, deadline)
        # Back in rotation once the front doors' own checks pass.
        ctx.traffic.ready(spec.site, server_name(spec.slot), deadline)
        return None

    def wait(self, pending: Sequence[Pending], ctx: Context) -> None:
        pass  # every action of this driver is done when execute returns

    def _wait_for_another_healthy(self, spec: InstanceSpec, ctx: Context) -> None:
        """Rolling replacement: take an instance down only while another one of the site serves."""
        site = ctx.desired.site(spec.site)
        if site is None or len(site.instances) < 2:
            return

        def another_healthy() -> str:
            others = [
                inst
                for node in {s.node for s in site.instances}
                for inst in self.runtime.observe_node(node, ctx.desired.fleet, spec.site)
                if inst.slot != spec.slot and inst.state == "running"
            ]
            if any(inst.health in ("healthy", "none") for inst in others):
                return "healthy"
            # Nothing is on its way to healthy either: waiting cannot help.
            return "" if any(inst.health == "starting" for inst in others) else "hopeless"

        deadline = spec.health.deadline if spec.health else HEALTH_DEADLINE
        try:
            outcome = wait_until(another_healthy, deadline, f"another healthy instance of {spec.site}")
        except Timeout:
            outcome = "hopeless"
        if outcome == "hopeless":
            # The site is down already; replacing this instance is how it comes back.
            ctx.report(f"warning: no other healthy instance of {spec.site}; replacing {spec.target} anyway")

    # -- what other commands ask of the runtime ---------------------------------------------

    def build(self, node: str, context: str, ref: str, progress: Report) -> str:
        return build_image(self.runtime.engines, node, context, ref, progress)

    def push(self, node: str, repository: str, tag: str, progress: Report) -> None:
        push_image(self.runtime.engines, node, repository, tag, progress)

    def log_streams(self, fleet: str, site: str) -> list[LogStream]:
        return list(container_logs(self.runtime.engines, [f"{LABEL_FLEET}={fleet}", f"{LABEL_SITE}={site}"],
                                   lambda labels: labels.get(LABEL_SLOT, "")))

    def site_left(self, observed: Observed, domain: str) -> str:
        running = [i for i in observed.instances if i.site == domain]
        return f"{len(running)} container(s)" if running else ""

    def drain_node(self, fleet: str, node: str, traffic: Traffic, report: Report) -> list[str]:
        raise UsageError("node drain/undrain needs runtime: swarm (with runtime docker, edit the sites' nodes)")

    def undrain_node(self, fleet: str, node: str, traffic: Traffic, report: Report) -> None:
        raise UsageError("node drain/undrain needs runtime: swarm (with runtime docker, edit the sites' nodes)")
