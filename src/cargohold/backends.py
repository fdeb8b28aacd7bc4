"""Wire a Fleet to the runtime and storage it names, and observe the world through them."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.fleet.schema import Fleet
from cargohold.model import Desired, Observed
from cargohold.runtime.docker import DockerRuntime
from cargohold.storage.local import LocalStorage


@dataclass
class Backends:
    runtime: DockerRuntime
    storage: LocalStorage

    def close(self) -> None:
        self.runtime.close()


def connect(fleet: Fleet) -> Backends:
    runtime = DockerRuntime({node.name: node.engine for node in fleet.nodes})
    return Backends(runtime=runtime, storage=LocalStorage(fleet.storage.root))


def observe(desired: Desired, backends: Backends) -> Observed:
    dirs = [d for site in desired.sites for d in site.dirs]
    return Observed(
        instances=backends.runtime.observe(desired.fleet),
        dirs=backends.storage.observe_dirs(dirs),
        storage=backends.storage.check_root(desired.fleet),
    )
