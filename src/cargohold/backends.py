"""Wire a Fleet to the runtime and storage it names, and observe the world through them."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.frontdoor.doors import FrontDoors
from cargohold.model import Desired, Observed, Plan, StorageState, TLSFiles
from cargohold.plan import plan as make_plan
from cargohold.runtime.base import Runtime
from cargohold.runtime.docker import DockerRuntime
from cargohold.runtime.swarm import SwarmRuntime
from cargohold.storage.base import StorageBackend
from cargohold.storage.glusterfs import GlusterStorage
from cargohold.storage.local import LocalStorage


@dataclass
class Backends:
    runtime: Runtime
    storage: StorageBackend
    frontdoors: FrontDoors | None = None
    swarm: SwarmRuntime | None = None  # runtime swarm

    def close(self) -> None:
        self.runtime.close()
        if self.swarm is not None:
            self.swarm.close()

    def check_node(self, desired: Desired, node: str) -> StorageState:
        """Is the fleet's storage (its marker) visible where this node's instances mount it?"""
        if isinstance(self.storage, GlusterStorage):
            return self.storage.check_node(node, desired.fleet)
        state = LocalStorage(desired.root_of(node), desired.storage_mount).check_root(desired.fleet)
        return StorageState(state.root, state.ok, state.reason, node)


def connect(fleet: Fleet) -> Backends:
    tls = {node.name: TLSFiles(t.ca, t.cert, t.key) for node in fleet.nodes
           if (t := node.tls or fleet.engine_tls) is not None and node.engine.startswith("tcp://")}
    runtime = DockerRuntime({node.name: node.engine for node in fleet.nodes}, tls=tls)
    desired = desired_state(fleet)
    storage: StorageBackend
    if desired.cluster is not None:
        storage = GlusterStorage(fleet.fleet, desired.cluster, desired.node_storage, fleet.storage.root)
    else:
        storage = LocalStorage(fleet.storage.root, desired.storage_mount)
    frontdoors = FrontDoors(fleet) if fleet.frontdoor is not None else None
    swarm = SwarmRuntime(desired.swarm, runtime.engines, tls) if desired.swarm is not None else None
    return Backends(runtime=runtime, storage=storage, frontdoors=frontdoors, swarm=swarm)


def observe(desired: Desired, backends: Backends) -> Observed:
    dirs = [d for site in desired.sites for d in site.dirs]
    storage = backends.storage
    management = storage.check_root(desired.fleet)
    if isinstance(storage, GlusterStorage):
        cluster = storage.observe_cluster()
        nodes = tuple(backends.check_node(desired, n.node) for n in desired.node_storage)
    else:
        cluster = None
        # Nodes that see the root at the fleet's path share the management check; others get their own.
        nodes = tuple(backends.check_node(desired, n.node) for n in desired.node_storage if n.root != storage.root)
    # With Swarm, Swarm places the instances: the engines hold no containers of cargohold's own.
    swarm = backends.swarm.observe(desired.fleet) if backends.swarm is not None else None
    instances = backends.runtime.observe(desired.fleet) if swarm is None else ()
    return Observed(
        instances=instances,
        dirs=storage.observe_dirs(dirs),
        storage=management,
        nodes=nodes,
        cluster=cluster,
        frontdoor_drift=tuple(backends.frontdoors.differs(instances)) if backends.frontdoors else (),
        swarm=swarm,
    )


def plan_fleet(fleet: Fleet) -> tuple[Desired, Backends, Plan]:
    """Connect to what the fleet names, observe it, and plan; the caller closes the backends."""
    desired = desired_state(fleet)
    backends = connect(fleet)
    try:
        return desired, backends, make_plan(desired, observe(desired, backends))
    except BaseException:
        backends.close()
        raise

