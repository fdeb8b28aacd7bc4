"""The one seam between the core and the parts that touch the world.

A driver (runtime docker or swarm, storage local or glusterfs, the HAProxy front doors) observes its
own part of Observed and executes the actions whose operation types it lists in `ops`. apply hands
each action to the driver that owns its type; nothing outside backends.py (the factory) knows which
concrete drivers there are. Drivers never import each other: what one needs of another while it
acts (the storage guard, the front doors' traffic) comes through the Context apply gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cargohold.errors import RuntimeFailure
from cargohold.model import Action, Desired, Observed, ObservedTask, StorageState, Usage

Report = Callable[[str], None]


class Pending(Protocol):
    """Work a driver started and apply waits for before anything that depends on it (a Swarm rollout)."""

    @property
    def target(self) -> str: ...


class PendingFailed(RuntimeFailure):
    """Raised by Driver.wait: `target` is the action whose pending work failed."""

    def __init__(self, target: str, message: str) -> None:
        super().__init__(message)
        self.target = target


class Traffic(Protocol):
    """What a runtime driver asks of the front doors while it changes instances."""

    def drain(self, site: str, server: str) -> None:
        """No new requests to `server` in any front door; returns when its requests in flight are done."""

    def ready(self, site: str, server: str, timeout: float) -> None:
        """Back in rotation; returns when every front door's own health check has it UP."""

    def follow_updates(self, tasks: Mapping[str, tuple[ObservedTask, ...]]) -> None:
        """During Swarm rollouts (each site's tasks as one poll saw them): a node whose instance is
        changing gets no new requests."""

    def release_updates(self, sites: Sequence[str]) -> None:
        """After the rollouts: the health checks alone decide again."""

    def set_node(self, node: str, state: str) -> None:
        """Every site's server for `node`: drain (requests in flight finish) or ready."""


class NoTraffic:
    """A fleet without front doors."""

    def drain(self, site: str, server: str) -> None:
        pass

    def ready(self, site: str, server: str, timeout: float) -> None:
        pass

    def follow_updates(self, tasks: Mapping[str, tuple[ObservedTask, ...]]) -> None:
        pass

    def release_updates(self, sites: Sequence[str]) -> None:
        pass

    def set_node(self, node: str, state: str) -> None:
        pass


@dataclass(frozen=True)
class Context:
    """What apply gives a driver that executes an action."""

    desired: Desired
    traffic: Traffic
    # The storage guard: is the fleet's storage (its marker) visible where `node`'s instances mount
    # it? Asked right before an instance may start there: the world may have changed since observe.
    check_storage: Callable[[str], StorageState]
    report: Report


class Driver(Protocol):
    name: str  # for messages: "docker", "swarm", "local", "glusterfs", "haproxy"
    ops: tuple[type, ...]  # the operation types (model.actions) this driver executes
    fills: tuple[str, ...]  # the fields of Observed its observe() fills in (and no other)
    # Operation types of which apply may run several at once (bounded per node), when nothing orders
    # them: the docker driver's starts of missing instances (a first apply of many sites).
    concurrent: tuple[type, ...]

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        """`observed` with this driver's part filled in. `detail`: also what only status shows
        (heal backlog, disk free, engine answers, front-door statistics)."""

    def preflight(self, actions: Sequence[Action], desired: Desired) -> None:
        """Check, before the first change, everything that would make one of these actions fail."""

    def execute(self, action: Action, ctx: Context) -> Pending | None:
        """Carry out one action; return what to wait for if it goes on by itself (a rollout)."""

    def wait(self, pending: Sequence[Pending], ctx: Context) -> None:
        """Until all of `pending` is done; raises PendingFailed."""

    def close(self) -> None: ...


class StorageDriver(Driver, Protocol):
    root: str  # where cargohold itself sees the storage root

    def check_root(self, fleet: str) -> StorageState: ...

    def check_node(self, node: str, fleet: str) -> StorageState: ...

    def usage(self, relpath: str) -> Usage | None: ...

    def area_path(self, relpath: str) -> str | None:
        """Where this machine reads a site area (`logs/<domain>`): a directory reached without a link."""

    def init_root(self, fleet: str, force: bool = False) -> str: ...

    def site_dirs(self, domain: str) -> list[str]: ...

    def purge(self, domain: str) -> list[str]: ...

    def restart_rolling(self, progress: Report, settle_timeout: float) -> str:
        """Restart every storage server, one at a time; returns what was done."""


class LogStream(Protocol):
    """One instance's stdout and stderr, read through its node's engine."""

    id: str  # the container's id
    node: str
    instance: str

    def lines(self, since: float | None, follow: bool) -> Iterator[tuple[float, str]]:
        """(unix time, text) of each line, oldest first; with `follow`, then each new one as it comes."""


class RuntimeDriver(Driver, Protocol):
    def build(self, node: str, context: str, ref: str, progress: Report) -> str:
        """Build `context`'s Dockerfile on `node`'s engine as `ref`; the image id."""

    def push(self, node: str, repository: str, tag: str, progress: Report) -> None: ...

    def log_streams(self, fleet: str, site: str) -> list[LogStream]:
        """Every instance of the site on every node (stopped ones too, while their container exists)."""

    def site_left(self, observed: Observed, domain: str) -> str:
        """What still runs of a site ("" when nothing): `site purge` refuses while something does."""

    def drain_node(self, fleet: str, node: str, traffic: Traffic, report: Report) -> list[str]:
        """Move every instance off `node`; returns where instances run now (`site#slot@node`)."""

    def undrain_node(self, fleet: str, node: str, traffic: Traffic, report: Report) -> None: ...
