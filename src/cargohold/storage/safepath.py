"""Directory operations below a root that never follow a symlink (openat + O_NOFOLLOW).

A site directory that an attacker (or a careless restore) replaced with a link to /etc must not
get chowned, written to or deleted: every component is opened relative to its parent's fd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(Exception):
    pass


def _components(relpath: str) -> list[str]:
    parts = relpath.split("/")
    if not relpath or any(p in ("", ".", "..") for p in parts) or "\0" in relpath:
        raise UnsafePath(f"{relpath!r} is not a plain relative path")
    return parts


@contextlib.contextmanager
def open_root(root: str) -> Iterator[int]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_child(parent_fd: int, name: str) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(f"{name} is a symlink (cargohold never follows links below the storage root)") from exc
        raise UnsafePath(f"{name} is not a directory") from exc


@contextlib.contextmanager
def parent_below(root: str, relpath: str) -> Iterator[tuple[int, str] | None]:
    """(fd of the parent directory, last name) of root/relpath, reached without following links;
    None when a parent does not exist."""
    parts = _components(relpath)
    with open_root(root) as fd:
        opened: list[int] = []
        current = fd
        try:
            for part in parts[:-1]:
                try:
                    current = _open_child(current, part)
                except FileNotFoundError:
                    yield None
                    return
                opened.append(current)
            yield current, parts[-1]
        finally:
            for f in opened:
                os.close(f)


def lstat_below(root: str, relpath: str) -> os.stat_result | None:
    """stat of root/relpath without following any link; None when it does not exist."""
    with parent_below(root, relpath) as parent:
        if parent is None:
            return None
        try:
            return os.stat(parent[1], dir_fd=parent[0], follow_symlinks=False)
        except FileNotFoundError:
            return None


def ensure_dir_below(root: str, relpath: str, uid: int, gid: int, mode: int, parent_mode: int = 0o755) -> None:
    """mkdir -p root/relpath; the last component gets uid/gid/mode, parents root-owned parent_mode."""
    parts = _components(relpath)
    with open_root(root) as fd:
        opened: list[int] = []
        current = fd
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, mode if last else parent_mode, dir_fd=current)
                current = _open_child(current, part)
                opened.append(current)
            os.fchown(current, uid, gid)
            os.fchmod(current, mode)
        finally:
            for f in opened:
                os.close(f)


def usage_below(root: str, relpath: str) -> tuple[int, int]:
    """(bytes, files) below root/relpath, not following links."""
    st = lstat_below(root, relpath)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return (0, 0)
    total, files = 0, 0
    for _top, _dirs, names, dirfd in os.fwalk(os.path.join(root, relpath), follow_symlinks=False):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_size
                files += 1
    return (total, files)


def remove_tree_below(root: str, relpath: str) -> bool:
    """rm -r root/relpath without following links; False when it did not exist."""
    with parent_below(root, relpath) as parent:
        if parent is None:
            return False
        fd, name = parent
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{relpath} is not a directory; not removing it")
        shutil.rmtree(name, dir_fd=fd)
        return True
