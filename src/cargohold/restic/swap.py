"""Put restored content in place inside a live site area, under traffic, without losing a byte.

The area directory itself stays: every running container bind-mounts it, and a bind mount follows
the directory's inode, so swapping the directory for another (rename) would leave the instances on
the old one. Instead, entry by entry inside it:

- a name in both with the same bytes: left as it is (owner and mode set as restored): most of a
  site is usually unchanged, and an untouched file is never in the way of a request;
- a name in both that differs: the live file is hard-linked into the aside directory, then the
  restored file is renamed over it (rename(2) replaces atomically on a local file system; through
  GlusterFS another web node may see the name missing for a moment, as DHT renames by link and
  unlink: gluster/glusterfs#3089);
- a name only in the restore: renamed in;
- a name only in the live area (written after the snapshot): moved aside;
- a directory in both: the same, one level down.

Every step goes by directory fd with O_NOFOLLOW, so a link a site planted is moved like a file and
never followed. Each step is journalled; on any error (or Ctrl-C) the journal is played backwards and
the live area is as it was. The aside directory keeps the whole pre-restore content: it is never
deleted automatically.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class SwapFailed(Exception):
    pass


@dataclass
class Journal:
    """What was done, as (kind, relpath): replaced (old file in aside), added (new name), aside (moved
    out of live), kept (a new directory in aside). Played backwards by rollback."""

    steps: list[tuple[str, str]] = field(default_factory=list)
    replaced: int = 0
    added: int = 0
    moved_aside: int = 0
    unchanged: int = 0


@contextlib.contextmanager
def _dir(name: str, parent: int | None = None) -> Iterator[int]:
    fd = os.open(name, DIR_FLAGS, dir_fd=parent) if parent is not None else os.open(name, DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def _same_file(live: int, staged: int, name: str) -> bool:
    """Same bytes (regular files, no link followed)? Then the live one takes the restored owner/mode."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    a = os.open(name, flags, dir_fd=live)
    try:
        b = os.open(name, flags, dir_fd=staged)
        try:
            sa, sb = os.fstat(a), os.fstat(b)
            if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
                return False
            while True:
                chunk = os.read(a, 1 << 20)
                if chunk != os.read(b, 1 << 20):
                    return False
                if not chunk:
                    break
            if (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
                os.fchown(a, sb.st_uid, sb.st_gid)
            if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
                os.fchmod(a, stat.S_IMODE(sb.st_mode))
            return True
        finally:
            os.close(b)
    finally:
        os.close(a)


def _kind(fd: int, name: str) -> int | None:
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


class _Aside:
    """The aside directory for one level, created only when something goes into it."""

    def __init__(self, parent: _Aside | int, name: str | None) -> None:
        self.parent, self.name, self.fd = parent, name, -1

    def get(self) -> int:
        if self.fd < 0:
            if isinstance(self.parent, int):
                self.fd = os.dup(self.parent)
            else:
                parent_fd = self.parent.get()
                assert self.name is not None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self.name, 0o700, dir_fd=parent_fd)
                self.fd = os.open(self.name, DIR_FLAGS, dir_fd=parent_fd)
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _swap_level(live: int, staged: int, aside: _Aside, rel: str, journal: Journal) -> None:
    staged_names = sorted(os.listdir(staged))
    live_names = set(os.listdir(live))
    for name in staged_names:
        path = f"{rel}{name}"
        new_kind, old_kind = _kind(staged, name), _kind(live, name)
        if new_kind == stat.S_IFDIR and old_kind == stat.S_IFDIR:
            child = _Aside(aside, name)
            try:
                with _dir(name, live) as live_child, _dir(name, staged) as staged_child:
                    _swap_level(live_child, staged_child, child, f"{path}/", journal)
                    st = os.fstat(staged_child)
                    os.fchown(live_child, st.st_uid, st.st_gid)
                    os.fchmod(live_child, stat.S_IMODE(st.st_mode))
            finally:
                child.close()
            continue
        if old_kind == stat.S_IFDIR or (old_kind is not None and new_kind == stat.S_IFDIR):
            os.rename(name, name, src_dir_fd=live, dst_dir_fd=aside.get())
            journal.steps.append(("aside", path))
            journal.moved_aside += 1
        elif old_kind == stat.S_IFREG and new_kind == stat.S_IFREG and _same_file(live, staged, name):
            journal.unchanged += 1
            continue
        elif old_kind is not None:
            os.link(name, name, src_dir_fd=live, dst_dir_fd=aside.get(), follow_symlinks=False)
            os.rename(name, name, src_dir_fd=staged, dst_dir_fd=live)
            journal.steps.append(("replaced", path))
            journal.replaced += 1
            continue
        os.rename(name, name, src_dir_fd=staged, dst_dir_fd=live)
        journal.steps.append(("added", path))
        journal.added += 1
    for name in sorted(live_names - set(staged_names)):
        os.rename(name, name, src_dir_fd=live, dst_dir_fd=aside.get())
        journal.steps.append(("aside", f"{rel}{name}"))
        journal.moved_aside += 1


def swap_in(live: str, staged: str, aside: str) -> Journal:
    """Make the content of directory `live` that of `staged` (see the module's doc); the previous
    content ends up in `aside` (created, mode 0700). Rolls back and raises SwapFailed on any error."""
    os.makedirs(aside, mode=0o700, exist_ok=True)
    journal = Journal()
    try:
        with _dir(live) as live_fd, _dir(staged) as staged_fd, _dir(aside) as aside_fd:
            top = _Aside(aside_fd, None)
            try:
                _swap_level(live_fd, staged_fd, top, "", journal)
            finally:
                top.close()
    except BaseException as exc:
        problems = rollback(live, staged, aside, journal)
        if isinstance(exc, OSError):
            detail = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
        else:
            detail = type(exc).__name__
        undo = ("the live area is as it was" if not problems
                else f"rollback incomplete, see {aside}: {'; '.join(problems[:3])}")
        if isinstance(exc, OSError):
            raise SwapFailed(f"putting the restored files in place failed: {detail}; {undo}") from exc
        raise
    return journal


def rollback(live: str, staged: str, aside: str, journal: Journal) -> list[str]:
    """Undo the journal, newest step first; returns what could not be undone."""
    problems = []
    for kind, rel in reversed(journal.steps):
        try:
            if kind in ("replaced", "aside"):  # the old entry back, over the restored one if any
                os.rename(os.path.join(aside, rel), os.path.join(live, rel))
            elif kind == "added":
                os.rename(os.path.join(live, rel), os.path.join(staged, rel))
        except OSError as exc:
            problems.append(f"{kind} {rel}: {exc.strerror or exc}")
    return problems
