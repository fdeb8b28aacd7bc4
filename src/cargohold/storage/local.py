"""The local storage driver: the storage root is a directory (usually a mount of shared storage
made outside cargohold) that every node sees, at the fleet's path or at its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cargohold.errors import UsageError
from cargohold.model import Action, Desired, EnsureDir, Observed, StorageState, Usage
from cargohold.seam import Context, Pending, Report
from cargohold.storage.tree import StorageTree


class LocalDriver:
    name = "local"
    ops: tuple[type, ...] = (EnsureDir,)
    fills: tuple[str, ...] = ("storage", "nodes", "dirs")
    concurrent: tuple[type, ...] = ()

    def __init__(self, desired: Desired) -> None:
        self.desired = desired
        self.tree = StorageTree(desired.storage_root, desired.storage_mount)
        self.root = self.tree.root

    def close(self) -> None:
        pass

    def check_root(self, fleet: str) -> StorageState:
        return self.tree.check_root(fleet)

    def check_node(self, node: str, fleet: str) -> StorageState:
        """Is the fleet's marker visible where this node's instances mount the root?"""
        state = StorageTree(self.desired.root_of(node), self.desired.storage_mount).check_root(fleet)
        return StorageState(state.root, state.ok, state.reason, node)

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        # Nodes that see the root at the fleet's path share the management check; others get their own.
        nodes = tuple(self.check_node(n.node, desired.fleet) for n in desired.node_storage if n.root != self.root)
        dirs = self.tree.observe_dirs([d for site in desired.sites for d in site.dirs])
        return replace(observed, storage=self.tree.check_root(desired.fleet), nodes=nodes, dirs=dirs)

    def preflight(self, actions: Sequence[Action], desired: Desired) -> None:
        pass

    def execute(self, action: Action, ctx: Context) -> Pending | None:
        assert isinstance(action.op, EnsureDir)
        self.tree.ensure_dir(action.op.spec)
        return None

    def wait(self, pending: Sequence[Pending], ctx: Context) -> None:
        pass

    def usage(self, relpath: str) -> Usage | None:
        return self.tree.usage(relpath)

    def area_path(self, relpath: str) -> str | None:
        return self.tree.area_path(relpath)

    def init_root(self, fleet: str, force: bool = False) -> str:
        return self.tree.init_root(fleet, force)

    def site_dirs(self, domain: str) -> list[str]:
        return self.tree.site_dirs(domain)

    def purge(self, domain: str) -> list[str]:
        return self.tree.purge(domain)

    def restart_rolling(self, progress: Report, settle_timeout: float) -> str:
        raise UsageError("storage restart needs storage.backend glusterfs")
