"""`cargohold storage check`: a canary for what the web nodes read.

Through one node's mount it writes a small file under a reserved name, then rewrites it in place
(same size, no O_TRUNC: the change a caching client is likeliest to miss), and after each change
reads it through every other node's mount until that node shows the new bytes. Per node: the delay,
or "stale" (still the old state at the deadline) or "wrong" (other bytes). Everything goes through
the nodes' executors, so a node reached over SSH is read on that node. The last result is kept on
the storage root for `status`.
"""

from __future__ import annotations

import json
import posixpath
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from cargohold.nodes.base import Executor

CANARY_DIR = ".cargohold-canary"  # reserved at the storage root (areas are lower-case names)
LAST_RESULT = "last-check.json"
DEADLINE = 2.0  # seconds; the FUSE attribute timeout is 1 s, every consistency row stays below 2 s
CMD_TIMEOUT = 10.0

NodeState = Literal["ok", "stale", "wrong", "error"]


@dataclass(frozen=True)
class NodeCheck:
    node: str
    state: NodeState
    create_s: float | None = None   # seconds until the new file read right through this node
    rewrite_s: float | None = None  # seconds until the in-place rewrite read right through this node
    detail: str = ""


@dataclass(frozen=True)
class CheckResult:
    writer: str
    at: float  # unix time
    nodes: tuple[NodeCheck, ...]

    @property
    def ok(self) -> bool:
        return all(n.state == "ok" for n in self.nodes)

    def problems(self) -> list[str]:
        return [f"{n.node}: {n.state} ({n.detail})" for n in self.nodes if n.state != "ok"]

    def to_json(self) -> dict[str, object]:
        return {"writer": self.writer, "at": self.at, "ok": self.ok, "nodes": [asdict(n) for n in self.nodes]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CheckResult:
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise ValueError("no nodes")
        return cls(str(data["writer"]), float(str(data["at"])), tuple(NodeCheck(**n) for n in nodes))


@dataclass(frozen=True)
class NodeMount:
    node: str
    root: str  # where this node mounts the storage root
    executor: Executor


def _write(mount: NodeMount, path: str, text: str, truncate: bool) -> None:
    # dd writes the bytes given on its command line's stdin in one write; conv=notrunc keeps the
    # file's size and rewrites it in place (what a caching client is likeliest to miss).
    conv = "fsync" if truncate else "notrunc,fsync"
    result = mount.executor.run(["sh", "-c", 'printf %s "$1" | dd of="$2" conv=' + conv + " status=none",
                                 "sh", text, path], CMD_TIMEOUT)
    if not result.ok:
        raise OSError(f"{mount.node}: cannot write {path}: {result.brief()}")


def _watch(reader: NodeMount, path: str, want: str, old: str | None, deadline: float) -> tuple[float | None, str]:
    """Seconds until `reader` reads `want` at path; else (None, what it read)."""
    start = time.monotonic()
    seen: str | None = None
    while True:
        seen = reader.executor.read_file(path, CMD_TIMEOUT)
        if seen == want:
            return time.monotonic() - start, ""
        if time.monotonic() - start > deadline:
            break
        time.sleep(0.02)
    if seen == old:
        return None, "stale: still " + ("missing" if old is None else "the old content")
    return None, "wrong: " + ("missing" if seen is None else f"{len(seen)} other bytes")


def check(mounts: Sequence[NodeMount], deadline: float = DEADLINE) -> CheckResult:
    """Write through the first node, read through every other one (with one node, read it back)."""
    writer = mounts[0]
    readers = list(mounts[1:]) or [writer]
    token = f"{writer.node}-{time.time_ns()}-{secrets.token_hex(8)}"
    first, second = f"A {token}\n", f"B {token}\n"  # same size: the rewrite keeps the file's length
    directory = posixpath.join(writer.root, CANARY_DIR)
    name = f"canary-{token}"
    results: list[NodeCheck] = []
    try:
        mk = writer.executor.run(["mkdir", "-p", directory], CMD_TIMEOUT)
        if not mk.ok:
            raise OSError(f"{writer.node}: cannot create {directory}: {mk.brief()}")
        _write(writer, posixpath.join(directory, name), first, truncate=True)
        created: dict[str, tuple[float | None, str]] = {}
        for reader in readers:
            created[reader.node] = _watch(reader, posixpath.join(reader.root, CANARY_DIR, name), first, None,
                                          deadline)
        _write(writer, posixpath.join(directory, name), second, truncate=False)
        for reader in readers:
            create_s, why = created[reader.node]
            rewrite_s, why2 = _watch(reader, posixpath.join(reader.root, CANARY_DIR, name), second, first, deadline)
            problems = [f"new file {why}"] * bool(why) + [f"in-place rewrite {why2}"] * bool(why2)
            first_problem = why or why2
            state: NodeState = "ok" if not first_problem else (
                "stale" if first_problem.startswith("stale") else "wrong")
            results.append(NodeCheck(reader.node, state, create_s, rewrite_s, "; ".join(problems)))
    except OSError as exc:
        done = {r.node for r in results}
        results += [NodeCheck(r.node, "error", detail=str(exc)) for r in readers if r.node not in done]
    finally:
        writer.executor.run(["rm", "-f", posixpath.join(directory, name)], CMD_TIMEOUT)
    result = CheckResult(writer.node, time.time(), tuple(results))
    _save(writer, directory, result)
    return result


def _save(writer: NodeMount, directory: str, result: CheckResult) -> None:
    path = posixpath.join(directory, LAST_RESULT)
    writer.executor.run(["sh", "-c", 'printf %s "$1" > "$2.tmp" && mv "$2.tmp" "$2"', "sh",
                         json.dumps(result.to_json()), path], CMD_TIMEOUT)


def last_result(mount: NodeMount) -> CheckResult | None:
    text = mount.executor.read_file(posixpath.join(mount.root, CANARY_DIR, LAST_RESULT), CMD_TIMEOUT)
    if not text:
        return None
    try:
        return CheckResult.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError):
        return None


def advice(result: CheckResult) -> str:
    """What the operator should do about nodes that read stale or wrong bytes."""
    bad = [n.node for n in result.nodes if n.state in ("stale", "wrong")]
    if not bad:
        return ""
    return (f"{', '.join(bad)} read other bytes than {result.writer} wrote: run `cargohold apply` (it sets the "
            "storage option profile), then `cargohold storage check` again; if a node stays stale, unmount and "
            "mount its storage root again once its instances are drained (`cargohold node drain`)")


def node_mounts(node_storage: Sequence[object]) -> list[NodeMount]:
    """Every web node's view of the storage root, reached through its own executor."""
    from cargohold.model import NodeStorage
    from cargohold.nodes.base import executor_for

    mounts = []
    for n in node_storage:
        assert isinstance(n, NodeStorage)
        mounts.append(NodeMount(n.node, n.root, executor_for(n.node, n.ssh)))
    return mounts
