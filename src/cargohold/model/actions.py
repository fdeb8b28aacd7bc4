"""What a plan is made of: typed operations, each owned by one driver, wrapped in Actions. Plain
frozen data. `Action.op` says what to do; kind, target, reason and after are what plan shows and
what apply orders by. The plan's JSON (`cargohold plan --json`) is documented in docs/plan-json.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cargohold.model.observed import ObservedInstance, ObservedService
from cargohold.model.spec import DirSpec, FrontDoorSpec, InstanceSpec, ServiceSpec

ActionKind = Literal["create", "update", "replace", "remove"]


# -- storage (every backend) --------------------------------------------------------------------


@dataclass(frozen=True)
class EnsureDir:
    """Create a site's directory, or give it the owner and mode it should have."""

    spec: DirSpec


# -- storage glusterfs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbePeer:
    address: str


@dataclass(frozen=True)
class CreateVolume:
    pass


@dataclass(frozen=True)
class StartVolume:
    pass


@dataclass(frozen=True)
class SetVolumeOption:
    name: str
    value: str


@dataclass(frozen=True)
class StartBricks:
    bricks: tuple[str, ...]  # address:path of each brick that is offline or missing


@dataclass(frozen=True)
class MountStorage:
    node: str


@dataclass(frozen=True)
class WriteMarker:
    """Only for a volume the same plan created: an adopted volume without a marker is refused."""


@dataclass(frozen=True)
class EnableQuota:
    pass


@dataclass(frozen=True)
class SetQuota:
    relpath: str
    limit: int  # bytes


GlusterOp = (ProbePeer | CreateVolume | StartVolume | SetVolumeOption | StartBricks | MountStorage | WriteMarker
             | EnableQuota | SetQuota)
# The storage repairs: while a plan makes one of these, what the storage looks like now does not block.
REPAIRS = (CreateVolume, StartVolume, StartBricks, MountStorage, WriteMarker)


# -- runtime docker -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartInstance:
    spec: InstanceSpec


@dataclass(frozen=True)
class ReplaceInstance:
    """Rolling: wait for another healthy instance of the site, drain, stop, start, wait healthy."""

    spec: InstanceSpec
    old: ObservedInstance


@dataclass(frozen=True)
class RemoveInstance:
    old: ObservedInstance


# -- runtime swarm --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitSwarm:
    manager: str


@dataclass(frozen=True)
class JoinSwarm:
    node: str


@dataclass(frozen=True)
class SetNodeLabels:
    node: str
    set: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()
    storage_label: str = ""  # set when this gives the node the storage label: apply checks the storage first


@dataclass(frozen=True)
class CreateService:
    spec: ServiceSpec


@dataclass(frozen=True)
class UpdateService:
    spec: ServiceSpec
    old: ObservedService


@dataclass(frozen=True)
class RemoveService:
    old: ObservedService


# -- front door -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncFrontDoor:
    spec: FrontDoorSpec


Op = (EnsureDir | GlusterOp | StartInstance | ReplaceInstance | RemoveInstance | InitSwarm | JoinSwarm
      | SetNodeLabels | CreateService | UpdateService | RemoveService | SyncFrontDoor)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str  # stable id: "instance a.example.com#1", "dir files/a.example.com", "volume v option x"…
    reason: str
    op: Op
    after: tuple[str, ...] = ()  # targets of actions that must be done first

    @property
    def node(self) -> str | None:
        """The node an action runs on, when it is one node's (plan shows it)."""
        op = self.op
        if isinstance(op, StartInstance | ReplaceInstance):
            return op.spec.node
        if isinstance(op, RemoveInstance):
            return op.old.node
        if isinstance(op, SyncFrontDoor):
            return op.spec.node
        return None


@dataclass(frozen=True)
class Plan:
    fleet: str
    actions: tuple[Action, ...]
    blockers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # shown, not blocking
    # Nodes that did not answer, with why, and how many actions for each wait until they do.
    unreachable: tuple[tuple[str, str, int], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind == kind)
