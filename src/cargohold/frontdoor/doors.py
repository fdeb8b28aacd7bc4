"""The front-door driver: one HAProxy per web node, every one routing to the instances on every
node. It loads the configuration plan asks for (SyncFrontDoor), and it is the fleet's Traffic: the
runtime drivers drain servers and put them back through it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.frontdoor.config import render, rendered_hash
from cargohold.frontdoor.haproxy import HAProxy, server_lines
from cargohold.frontdoor.host import DoorHost, LocalHost, NodeHost
from cargohold.model import Action, Desired, FrontDoorSpec, Observed, ObservedFrontDoor, ObservedTask, SyncFrontDoor
from cargohold.nodes.base import executor_for
from cargohold.seam import Context, Pending
from cargohold.wait import Timeout, wait_until


class FrontDoors:
    name = "haproxy"
    ops: tuple[type, ...] = (SyncFrontDoor,)
    fills: tuple[str, ...] = ("frontdoors",)
    # Each node's door is loaded on its own node: all at once (apply bounds them per node).
    concurrent: tuple[type, ...] = (SyncFrontDoor,)

    def __init__(self, specs: tuple[FrontDoorSpec, ...]) -> None:
        self.specs = {s.node: s for s in specs}
        self.doors = {s.node: HAProxy(s.node, s.home, self._host(s)) for s in specs}
        self.held: dict[str, dict[str, str]] = {}  # site -> node -> state set while following an update

    @staticmethod
    def _host(spec: FrontDoorSpec) -> DoorHost:
        """A node reached over SSH runs its front door itself; a node that is this machine, here."""
        if spec.ssh is None:
            return LocalHost(spec.node)
        return NodeHost(spec.node, executor_for(spec.node, spec.ssh))

    def close(self) -> None:
        pass

    # -- observe and converge -----------------------------------------------------------------

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        # Each door is asked on its own node, all at once: a node that does not answer costs one timeout.
        with ThreadPoolExecutor(max_workers=max(1, len(self.doors))) as pool:
            answers = list(pool.map(lambda node: self._observe_or_why(node, detail), self.doors))
        doors = tuple(a if isinstance(a, ObservedFrontDoor) else ObservedFrontDoor(n, False)
                      for n, a in zip(self.doors, answers, strict=True))
        unreachable = tuple((n, a) for n, a in zip(self.doors, answers, strict=True) if isinstance(a, str))
        return replace(observed, frontdoors=doors, unreachable=unreachable)

    def _observe_or_why(self, node: str, detail: bool) -> ObservedFrontDoor | str:
        """The door's state, or why its node (over SSH) does not answer at all."""
        door = self.doors[node]
        if isinstance(door.host, NodeHost):
            try:
                door.host.run(["true"], 10)
            except RuntimeFailure as exc:
                return str(exc)
        return self.observe_door(node, detail)

    def observe_door(self, node: str, detail: bool = False) -> ObservedFrontDoor:
        door = self.doors[node]
        try:
            if not door.running():
                return ObservedFrontDoor(node, False)
            text = door.read_config() or ""
        except RuntimeFailure:  # the node does not answer (over SSH)
            return ObservedFrontDoor(node, False)
        servers: dict[str, list[str]] = {}
        for (site, server), address in server_lines(text).items():
            servers.setdefault(site, []).append(f"{server} {address}")
        stats: tuple[dict[str, str], ...] = ()
        if detail:
            try:
                stats = tuple(door.stats())
            except RuntimeFailure:
                return ObservedFrontDoor(node, False)
        return ObservedFrontDoor(node, True, rendered_hash(text),
                                 tuple(sorted((site, tuple(sorted(s))) for site, s in servers.items())), stats)

    def preflight(self, actions: Sequence[Action], desired: Desired) -> None:
        """What `haproxy -c` would only half-explain, said with the field's name."""
        for action in actions:
            assert isinstance(action.op, SyncFrontDoor)
            spec = action.op.spec
            for i, path in enumerate(spec.certificate_sources if spec.ssh else spec.config.certificates):
                if not os.path.isfile(path):
                    raise UsageError(f"frontdoor.certificates[{i}]: {path} does not exist")

    def execute(self, action: Action, ctx: Context) -> Pending | None:
        assert isinstance(action.op, SyncFrontDoor)
        spec = action.op.spec
        door = self.doors[spec.node]
        if spec.ssh is not None and spec.certificate_sources:
            door.host.mkdir(f"{spec.home}/certs", 0o700)
            for source, target in zip(spec.certificate_sources, spec.config.certificates, strict=True):
                with open(source, "rb") as fh:
                    door.host.write(target, fh.read(), 0o600)
        door.ensure_log_writer(spec.storage_root)
        door.apply(render(spec.config))
        return None

    def wait(self, pending: Sequence[Pending], ctx: Context) -> None:
        pass

    def stop(self) -> None:
        self._each(lambda door: door.stop())

    # -- Traffic: what the runtime drivers ask while they change instances ---------------------

    def _each(self, act: Callable[[HAProxy], object]) -> None:
        """`act` on every door at once: a door on a node over SSH takes a round trip per command,
        and an instance about to stop must be out of every door's rotation without waiting for each
        door in turn. The first failure is raised once all are done."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.doors))) as pool:
            futures = [pool.submit(act, door) for door in self.doors.values()]
        for future in futures:
            future.result()

    @staticmethod
    def _set_if_running(door: HAProxy, changes: Sequence[tuple[str, str, str]]) -> None:
        """(site, server, state) changes in one admin-socket call, on a door that runs; a door that
        does not run has nothing to change."""
        try:
            door.set_states(changes)
        except RuntimeFailure:
            if door.running():
                raise

    def _set_everywhere(self, changes: Sequence[tuple[str, str, str]]) -> None:
        if changes:
            self._each(partial(self._set_if_running, changes=changes))

    def drain(self, site: str, server: str) -> None:
        self._each(lambda door: door.drain(site, server))

    def set_node(self, node: str, state: str) -> None:
        """runtime swarm: take `node`'s server of every site out of rotation (drain) or put it back
        (ready), in every front door; requests in flight finish."""
        sites = [route.domain for spec in self.specs.values() for route in spec.config.sites
                 if any(b.name == node for b in route.backends)]
        def act(door: HAProxy) -> None:
            if door.running():
                for site in dict.fromkeys(sites):
                    if state == "drain":
                        door.drain(site, node)  # waits (bounded) for its requests in flight
                    else:
                        door.set_state(site, node, state)

        self._each(act)

    def follow_updates(self, tasks: Mapping[str, tuple[ObservedTask, ...]]) -> None:
        """runtime swarm, while Swarm rolls updates out: a node whose instance is stopping or not
        yet healthy gets no new requests (drain) — so a new version that fails its health check never
        serves, even before the front door's own checks notice; a node with a healthy instance gets
        them again. Only changes reach HAProxy: those of one poll, every site's, in one admin-socket
        call per door, all doors at once."""
        changes = []
        for site, seen in tasks.items():
            held = self.held.setdefault(site, {})
            for node, state in sorted(update_states(seen).items()):
                if held.get(node) != state:
                    held[node] = state
                    changes.append((site, node, state))
        self._set_everywhere(changes)

    def release_updates(self, sites: Sequence[str]) -> None:
        """After the updates: the front doors' health checks alone decide again."""
        changes = []
        for site in sites:
            held = self.held.pop(site, {})
            changes += [(site, node, "ready") for node, state in sorted(held.items()) if state != "ready"]
        self._set_everywhere(changes)

    def ready(self, site: str, server: str, timeout: float) -> None:
        """Out of drain, and wait until every front door's own health check has it UP: replacing
        the next instance before that would leave the site with no server to send requests to."""
        for door in self.doors.values():
            if door.running() and door.set_state(site, server, "ready"):

                def up(d: HAProxy = door) -> bool:
                    return (d.server_state(site, server) or "").startswith("UP")

                try:
                    wait_until(up, timeout, f"{site}/{server} UP in the front door on {door.node}", interval=0.1)
                except Timeout as exc:
                    raise RuntimeFailure(str(exc)) from None


def update_states(tasks: tuple[ObservedTask, ...]) -> dict[str, str]:
    """node -> the state its server should have while Swarm rolls a site's update out: drain for a
    node whose instance is stopping or not yet running, ready for one with a running instance."""
    serving = {t.node for t in tasks if t.desired == "running" and t.state == "running"}
    changing = {t.node for t in tasks if t.node and (
        (t.desired != "running" and t.state in ("running", "starting")) or
        (t.desired == "running" and t.state in ("assigned", "accepted", "preparing", "ready", "starting")))}
    return {node: "drain" if node in changing else "ready" for node in serving | changing}
