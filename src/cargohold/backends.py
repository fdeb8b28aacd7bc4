"""The factory: the fleet's drivers, built from what the fleet file names. The only module that
knows the concrete drivers; everything else sees them through cargohold.seam."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.frontdoor.doors import FrontDoors
from cargohold.model import Desired, Observed, Plan, StorageState, TLSFiles
from cargohold.plan import plan as make_plan
from cargohold.restic import ResticBackups as ResticBackups  # re-exported: the operations name it
from cargohold.runtime.docker import DockerDriver, DockerRuntime
from cargohold.runtime.engines import Engines
from cargohold.runtime.swarm import SwarmDriver
from cargohold.seam import Driver, NoTraffic, RuntimeDriver, StorageDriver, Traffic
from cargohold.storage.gluster import GlusterDriver
from cargohold.storage.local import LocalDriver


@dataclass
class Backends:
    """The fleet's drivers: one storage, one runtime, and the front doors if the fleet has them."""

    storage: StorageDriver
    runtime: RuntimeDriver
    frontdoor: FrontDoors | None = None
    backup: ResticBackups | None = None  # the sites that are backed up (fleet `backup:`)

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
        for driver in self.drivers:
            driver.close()


def connect(fleet: Fleet) -> Backends:
    tls = {node.name: TLSFiles(t.ca, t.cert, t.key) for node in fleet.nodes
           if (t := node.tls or fleet.engine_tls) is not None and node.engine.startswith("tcp://")}
    engines = Engines({node.name: node.engine for node in fleet.nodes}, tls=tls)
    desired = desired_state(fleet)
    storage: StorageDriver = GlusterDriver(desired) if desired.cluster is not None else LocalDriver(desired)
    runtime: RuntimeDriver = SwarmDriver(desired, engines) if desired.swarm is not None else DockerDriver(engines)
    frontdoor = FrontDoors(desired.frontdoors) if desired.frontdoors else None
    backup = ResticBackups(desired) if desired.backups else None
    return Backends(storage=storage, runtime=runtime, frontdoor=frontdoor, backup=backup)


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
    return observed


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
    runtime = DockerRuntime(Engines({"dev": engine}))
    try:
        yield from runtime.export_path("dev", image, path)
    finally:
        runtime.close()
