"""Mounting a GlusterFS volume on a web node (the FUSE client, through the node's executor), and
reading /proc/mounts."""

from __future__ import annotations

import posixpath

from cargohold.errors import RuntimeFailure, StorageError
from cargohold.model import ClusterSpec, NodeStorage
from cargohold.nodes.base import Executor
from cargohold.wait import Timeout, wait_until

MOUNT_TIMEOUT = 60.0


def parse_mounts(text: str, mountpoint: str) -> tuple[bool, str]:
    """(mounted as glusterfs?, the volfile server) from /proc/mounts text."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == mountpoint and fields[2] == "fuse.glusterfs":
            return True, fields[0].split(":")[0]
    return False, ""


def mount_volume(executor: Executor, node: NodeStorage, spec: ClusterSpec) -> None:
    """Mount the volume at the node's storage root, through the node's executor, with every server
    as a volfile server (a mount works while the first one is down)."""
    node_name = node.node
    state = posixpath.join(node.state_dir, f"glusterfs-{spec.volume}")
    executor.run(["mkdir", "-p", node.root, state], 10)
    servers = [f"--volfile-server={s.address}" for s in spec.servers]
    client = [
        "glusterfs", *servers, f"--volfile-id={spec.volume}",
        f"--pid-file={state}/glusterfs.pid", f"--log-file={state}/glusterfs.log",
        "--process-name=fuse", node.root,
    ]
    # The client daemonizes; its output goes to a file so that no pipe of ours outlives the
    # command (a daemon holding our stdout would make the call wait for its end).
    argv = ["sh", "-c", 'exec "$@" >>"$0" 2>&1', f"{state}/mount.out", *client]
    result = None
    for attempt in (1, 2):
        try:
            result = executor.run(argv, MOUNT_TIMEOUT / 2)
            break
        except RuntimeFailure as exc:
            # A FUSE client was seen to hang in its mount now and then; clean up and try once more.
            _kill_client(executor, state, node.root)
            if attempt == 2:
                raise StorageError(f"mount on {node_name}: {exc}; {_log_tail(executor, state)}") from None
    assert result is not None
    if not result.ok:
        raise StorageError(f"mount on {node_name} failed: {result.brief()}; {_log_tail(executor, state)}")
    try:
        wait_until(lambda: parse_mounts(executor.read_file("/proc/mounts") or "", node.root)[0], 30,
                   f"{spec.volume} mounted at {node.root} on {node_name}")
    except Timeout as exc:
        raise StorageError(str(exc)) from None


def _kill_client(executor: Executor, state: str, mountpoint: str) -> None:
    pid = (executor.read_file(f"{state}/glusterfs.pid") or "").strip()
    if pid.isdigit():
        executor.run(["kill", "-9", pid], 10)
    executor.run(["umount", "-l", mountpoint], 10)


def _log_tail(executor: Executor, state: str) -> str:
    text = executor.read_file(f"{state}/glusterfs.log") or ""
    errors = [line for line in text.splitlines() if "] E [" in line or "] W [" in line]
    return "client log: " + (" | ".join(errors[-3:]) or "no errors logged")
