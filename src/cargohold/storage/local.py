"""The local storage driver: the storage root is a directory (usually a mount of shared storage
made outside cargohold) that every node sees, at the fleet's path or at its own."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import replace

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.model import Action, Desired, EnsureDir, Observed, StorageState, Usage
from cargohold.nodes.base import Executor, executor_for
from cargohold.seam import Context, Pending, Report
from cargohold.storage.tree import MARKER_FILE, StorageTree


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
        """Is the fleet's marker visible where this node's instances mount the root? A node reached
        over SSH is asked itself: its root is a path of that machine, not of this one."""
        spec = next((n for n in self.desired.node_storage if n.node == node), None)
        if spec is not None and spec.ssh is not None:
            return check_on_node(executor_for(node, spec.ssh), spec.root, fleet, self.desired.storage_mount, node)
        state = StorageTree(self.desired.root_of(node), self.desired.storage_mount).check_root(fleet)
        return StorageState(state.root, state.ok, state.reason, node)

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        # Nodes of this machine that see the root at the fleet's path share the management check;
        # others (another path, or another machine) get their own.
        nodes, unreachable = [], []
        for n in desired.node_storage:
            if n.root == self.root and n.ssh is None:
                continue
            try:
                nodes.append(self.check_node(n.node, desired.fleet))
            except RuntimeFailure as exc:  # the node does not answer (over SSH)
                unreachable.append((n.node, str(exc)))
                nodes.append(StorageState(n.root, False, f"the node does not answer: {exc}", n.node))
        dirs = self.tree.observe_dirs([d for site in desired.sites for d in site.dirs])
        return replace(observed, storage=self.tree.check_root(desired.fleet), nodes=tuple(nodes), dirs=dirs,
                       unreachable=tuple(unreachable))

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


def check_on_node(executor: Executor, root: str, fleet: str, require_mount: bool, node: str) -> StorageState:
    """The storage guard asked on the node itself: its root a directory (and a mount point, with
    storage.mount), holding this fleet's marker."""
    if not executor.run(["test", "-d", root], 10).ok:
        return StorageState(root, False, "does not exist or is not a directory (is the storage mounted?)", node)
    if require_mount:
        mounts = executor.read_file("/proc/mounts") or ""
        if not any(line.split()[1:2] == [root] for line in mounts.splitlines()):
            return StorageState(root, False, "is not a mount point (storage.mount is true: the shared storage must be "
                                "mounted here)", node, mounted=False)
    text = executor.read_file(posixpath.join(root, MARKER_FILE))
    if text is None:
        return StorageState(root, False, f"no {MARKER_FILE} marker: this is not the fleet's storage root (is the "
                            "storage mounted?)", node)
    try:
        marker = json.loads(text)
    except ValueError:
        return StorageState(root, False, f"marker {MARKER_FILE} is unreadable", node)
    if not isinstance(marker, dict) or marker.get("fleet") != fleet:
        found = marker.get("fleet") if isinstance(marker, dict) else None
        return StorageState(root, False, f"marker says fleet {found!r}, not {fleet!r}", node)
    return StorageState(root, True, "", node)
