"""The glusterfs storage driver: a replicated volume, created or adopted, mounted on every web node;
site directories are made through the management mount on this machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import get_args

from cargohold.errors import RuntimeFailure, StorageError
from cargohold.model import Action, Desired, EnsureDir, GlusterOp, Observed, StorageState, Usage
from cargohold.seam import Context, Pending, Report
from cargohold.storage.gluster.cluster import GlusterStorage
from cargohold.storage.gluster.maintenance import rolling_restart

__all__ = ["GlusterDriver", "GlusterStorage"]


class GlusterDriver:
    name = "glusterfs"
    ops: tuple[type, ...] = (EnsureDir, *get_args(GlusterOp))
    fills: tuple[str, ...] = ("storage", "nodes", "dirs", "cluster")
    concurrent: tuple[type, ...] = ()

    def __init__(self, desired: Desired) -> None:
        assert desired.cluster is not None
        self.storage = GlusterStorage(desired.fleet, desired.cluster, desired.mounts, desired.storage_root)
        self.root = self.storage.root

    def close(self) -> None:
        pass

    def observe(self, desired: Desired, observed: Observed, detail: bool = False) -> Observed:
        cluster = self.storage.observe_cluster(with_heal=detail)
        if detail:
            cluster = replace(cluster, disk_free=self.storage.disk_free())
        nodes, unreachable = [], []
        for n in desired.node_storage:
            try:
                nodes.append(self.storage.check_node(n.node, desired.fleet))
            except RuntimeFailure as exc:  # the node does not answer (over SSH)
                unreachable.append((n.node, str(exc)))
                nodes.append(StorageState(n.root, False, f"the node does not answer: {exc}", n.node))
        return replace(
            observed,
            storage=self.storage.check_root(desired.fleet),
            nodes=tuple(nodes),
            cluster=cluster,
            dirs=self.storage.observe_dirs([d for site in desired.sites for d in site.dirs]),
            unreachable=tuple(unreachable),
        )

    def preflight(self, actions: Sequence[Action], desired: Desired) -> None:
        if any(not isinstance(a.op, EnsureDir) for a in actions):
            self.storage.preflight()

    def execute(self, action: Action, ctx: Context) -> Pending | None:
        op = action.op
        if isinstance(op, EnsureDir):
            self.storage.ensure_dir(op.spec)
        elif isinstance(op, get_args(GlusterOp)):
            self.storage.execute(op)
        else:
            raise StorageError(f"{action.target}: not a storage operation")
        return None

    def wait(self, pending: Sequence[Pending], ctx: Context) -> None:
        pass

    def check_root(self, fleet: str) -> StorageState:
        return self.storage.check_root(fleet)

    def check_node(self, node: str, fleet: str) -> StorageState:
        return self.storage.check_node(node, fleet)

    def usage(self, relpath: str) -> Usage | None:
        return self.storage.usage(relpath)

    def area_path(self, relpath: str) -> str | None:
        return self.storage.area_path(relpath)

    def init_root(self, fleet: str, force: bool = False) -> str:
        return self.storage.init_root(fleet, force)

    def site_dirs(self, domain: str) -> list[str]:
        return self.storage.site_dirs(domain)

    def purge(self, domain: str) -> list[str]:
        return self.storage.purge(domain)

    def restart_rolling(self, progress: Report, settle_timeout: float) -> str:
        rolling_restart(self.storage, progress, settle_timeout)
        return f"restarted every brick of volume {self.storage.spec.volume}; heal backlog 0, all clients connected"
