"""Restoring one area of a snapshot into a directory, and checking what was restored: the part of
restores and the drill that does not care where the directory is (staging, scratch, --to)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from cargohold.errors import RuntimeFailure, StorageError
from cargohold.restic.wire import Node, Restic, Snapshot
from cargohold.storage.safepath import UnsafePath, lstat_below


@dataclass(frozen=True)
class Choice:
    """One area's snapshot picked for a restore."""

    relpath: str  # files/www.example.com
    snapshot: Snapshot | None  # None: the newest of the area (restic resolves it)

    @property
    def area(self) -> str:
        return self.relpath.split("/", 1)[0]


def area_dir(root: str, relpath: str) -> str:
    try:
        st = lstat_below(root, relpath)
    except UnsafePath as exc:
        raise StorageError(f"{root}/{relpath}: {exc}") from None
    if st is None:
        raise StorageError(f"{root}/{relpath} does not exist (run apply)")
    if not stat.S_ISDIR(st.st_mode):
        raise StorageError(f"{root}/{relpath} is not a directory (a link is never followed)")
    return os.path.join(root, relpath)


def tree_of(directory: str) -> dict[str, tuple[str, int]]:
    """path ("/sub/name", as restic ls writes it) -> (type, size), not following links."""
    found: dict[str, tuple[str, int]] = {}
    for top, dirs, names, dirfd in os.fwalk(directory, follow_symlinks=False):
        rel = "/" + os.path.relpath(top, directory) if top != directory else ""
        for name in dirs:
            found[f"{rel}/{name}"] = ("dir", 0)
        for name in names:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            kind = "file" if stat.S_ISREG(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode) else "other"
            found[f"{rel}/{name}"] = (kind, st.st_size if kind == "file" else 0)
    return found


def check_against(directory: str, nodes: Sequence[Node], below: str) -> tuple[int, int]:
    """Does `directory` hold exactly the snapshot's files below its path `below` (names, types,
    sizes)? (files, bytes)."""
    prefix = below.rstrip("/") + "/"
    want = {n.path[len(prefix) - 1:]: (n.type, n.size if n.type == "file" else 0) for n in nodes
            if n.path.startswith(prefix)}
    have = tree_of(directory)
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    differ = sorted(p for p in set(want) & set(have) if want[p] != have[p])
    if missing or extra or differ:
        raise RuntimeFailure(f"restored {directory} differs from the snapshot: {len(missing)} missing "
                             f"{missing[:3]}, {len(extra)} extra {extra[:3]}, {len(differ)} differ {differ[:3]}")
    files = [v for v in want.values() if v[0] == "file"]
    return len(files), sum(size for _, size in files)


@dataclass(frozen=True)
class AreaRestore:
    snapshot: str  # short id
    time: str
    files: int
    bytes: int

    def describe(self, area: str) -> str:
        return f"{area}: snapshot {self.snapshot} ({self.time}), {self.files} files, {self.bytes} bytes"


def restore_area(restic: Restic, choice: Choice, tags: Sequence[str], into: str,
                 thorough: bool = False) -> AreaRestore:
    """The chosen snapshot's area content (the newest with `tags` when none is chosen) as directory
    `into`, which must not exist: every byte read back against the repository (--verify) and the
    restored files counted against restic's own count; `thorough` (the drill) also compares every
    name, type and size with `restic ls` of the snapshot."""
    holder = f"{into}.restic"
    shutil.rmtree(holder, ignore_errors=True)
    try:
        restored = restic.restore(choice.snapshot.id if choice.snapshot else None, holder, tags)
        inner = os.path.join(holder, restored.path.lstrip("/"))
        if " " in restored.path and not os.path.isdir(inner):
            raise RuntimeFailure(f"snapshot {restored.snapshot} holds several paths ({restored.path}), not one area")
        if os.path.islink(inner) or not os.path.isdir(inner):
            raise RuntimeFailure(f"snapshot {restored.snapshot}: {restored.path} is not a directory in it")
        os.rename(inner, into)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    if thorough:
        files, size = check_against(into, restic.ls(restored.snapshot), restored.path)
    else:
        found = [v for v in tree_of(into).values() if v[0] == "file"]
        files, size = len(found), sum(s for _, s in found)
        if files != restored.verified:
            raise RuntimeFailure(f"restored {into}: {files} files, restic verified {restored.verified}")
    return AreaRestore(restored.snapshot, restored.time, files, size)
