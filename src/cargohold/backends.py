"""The factory: the fleet's drivers, built from what the fleet file names. The only module that
knows the concrete drivers; everything else sees them through cargohold.seam."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import Desired, Observed, Plan, StorageState, TLSFiles
from cargohold.plan import plan as make_plan
from cargohold.seam import Driver, NoTraffic, RuntimeDriver, StorageDriver, Traffic

if TYPE_CHECKING:
    from cargohold.frontdoor.doors import FrontDoors
    from cargohold.restic import ResticBackups


class Backends:
    """The fleet's drivers: one storage, one runtime, the front doors and the backups if the fleet
    has them. Each is built (and its module imported) the first time it is asked for: `backup` never
    loads the engine SDK, `storage check` never the backup driver."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.desired = desired_state(fleet)

    @cached_property
    def storage(self) -> StorageDriver:
        if self.desired.cluster is not None:
            from cargohold.storage.gluster import GlusterDriver

            return GlusterDriver(self.desired)
        from cargohold.storage.local import LocalDriver

        return LocalDriver(self.desired)

    @cached_property
    def runtime(self) -> RuntimeDriver:
        from cargohold.runtime.engines import Engines

        fleet = self.fleet
        tls = {node.name: TLSFiles(t.ca, t.cert, t.key) for node in fleet.nodes
               if (t := node.tls or fleet.engine_tls) is not None and node.engine.startswith("tcp://")}
        engines = Engines({node.name: node.engine for node in fleet.nodes}, tls=tls)
        if self.desired.swarm is not None:
            from cargohold.runtime.swarm import SwarmDriver

            return SwarmDriver(self.desired, engines)
        from cargohold.runtime.docker import DockerDriver

        return DockerDriver(engines)

    @cached_property
    def frontdoor(self) -> FrontDoors | None:
        if not self.desired.frontdoors:
            return None
        from cargohold.frontdoor.doors import FrontDoors

        return FrontDoors(self.desired.frontdoors)

    @cached_property
    def backup(self) -> ResticBackups | None:
        if not self.desired.backups:
            return None
        from cargohold.restic import ResticBackups

        return ResticBackups(self.desired)

    @property
    def drivers(self) -> tuple[Driver, ...]:
        """In the order they observe, preflight and are closed: storage first (the runtime's guard
        and the front doors' log writers need it), the front doors before the runtime (a missing
        certificate is told before images are pulled)."""
        return (self.storage, *((self.frontdoor,) if self.frontdoor else ()), self.runtime)

    @property
    def traffic(self) -> Traffic:
        return self.frontdoor if self.frontdoor is not None else NoTraffic()

    def close(self) -> None:
        for name in ("storage", "frontdoor", "runtime", "backup"):  # only what was built
            driver = self.__dict__.get(name)
            if driver is not None:
                driver.close()
        from cargohold.nodes.base import close_all

        close_all()  # the command's SSH connections, one per node


def connect(fleet: Fleet) -> Backends:
    return Backends(fleet)


def observe(desired: Desired, backends: Backends, detail: bool = False,
            drivers: tuple[Driver, ...] | None = None) -> Observed:
    """Every driver (or only `drivers`) fills in its own part, all at once: a storage server or an
    engine that does not answer costs its timeout once, not once per part."""
    empty = Observed(instances=(), dirs=(), storage=StorageState(desired.storage_root, False, "not observed"))
    drivers = backends.drivers if drivers is None else drivers
    with ThreadPoolExecutor(max_workers=len(drivers)) as pool:
        parts = list(pool.map(lambda driver: driver.observe(desired, empty, detail), drivers))
    observed = empty
    for driver, part in zip(drivers, parts, strict=True):
        observed = replace(observed, **{name: getattr(part, name) for name in driver.fills})
    # A node that one part could not reach is unreachable for all (its first reason kept).
    unreachable: dict[str, str] = {}
    for part in parts:
        for node, why in part.unreachable:
            unreachable.setdefault(node, why)
    return replace(observed, unreachable=tuple(sorted(unreachable.items())))


def plan_fleet(fleet: Fleet) -> tuple[Desired, Backends, Plan]:
    """Connect to what the fleet names, observe it, and plan; the caller closes the backends."""
    desired = desired_state(fleet)
    backends = connect(fleet)
    try:
        return desired, backends, make_plan(desired, observe(desired, backends))
    except BaseException:
        backends.close()
        raise


def export_app(engine: str, image: str, path: str) -> Iterator[bytes]:
    """A tar stream of `path` inside `image` on the engine at `engine` (for `cargohold dev`)."""
    from cargohold.runtime.docker import DockerRuntime
    from cargohold.runtime.engines import Engines

    runtime = DockerRuntime(Engines({"dev": engine}))
    try:
        yield from runtime.export_path("dev", image, path)
    finally:
        runtime.close()
