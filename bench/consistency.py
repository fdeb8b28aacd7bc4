"""Cross-node consistency rows: a change made through one web node's mount while a reader on another
node has just looked the name up and read it (its caches primed), and how long until the reader sees
the new state. Used by bench/smallfile (figures) and tests/integration/test_storage_truth.py (limits).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Observe = Callable[[Path], object]


def _content(path: Path) -> object:
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            return (stat.S_IFMT(st.st_mode), st.st_size, fh.read())
    except FileNotFoundError:
        return None
    except OSError as exc:  # e.g. ESTALE while the name moves: not the new state yet
        return ("error", exc.errno)


def _meta(path: Path) -> object:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return ("error", exc.errno)
    return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def _listing(path: Path) -> object:
    try:
        return (os.path.isdir(path), sorted(os.listdir(path.parent)))
    except OSError as exc:
        return ("error", exc.errno)


@dataclass(frozen=True)
class Row:
    name: str
    prepare: Callable[[Path], None]  # on the writer's side, before the reader primes its caches
    change: Callable[[Path], None]   # on the writer's side
    observe: Observe                 # what the reader looks at (equal on both sides = seen)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _overwrite_in_place(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY)  # no O_TRUNC: the size stays, bytes change
    try:
        os.pwrite(fd, b"B" * 4096, 0)
    finally:
        os.close(fd)


def _append(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b"appended line\n")


def _rename_over(path: Path) -> None:
    tmp = path.with_name(path.name + ".new")
    _write(tmp, b"renamed over the old one" * 100)
    os.rename(tmp, path)


def _move_in(path: Path) -> None:
    """Written in a sibling directory, then renamed into this one (a restore, Drupal's file_move)."""
    elsewhere = path.parent.parent / f"{path.parent.name}-elsewhere"
    elsewhere.mkdir(exist_ok=True)
    _write(elsewhere / path.name, b"moved in from another directory")
    os.rename(elsewhere / path.name, path)


def _move_out(path: Path) -> None:
    elsewhere = path.parent.parent / f"{path.parent.name}-elsewhere"
    elsewhere.mkdir(exist_ok=True)
    os.rename(path, elsewhere / path.name)


def _nothing(path: Path) -> None:
    pass


def _file(path: Path) -> None:
    _write(path, b"A" * 4096)


def _dir(path: Path) -> None:
    path.mkdir()


ROWS: tuple[Row, ...] = (
    Row("create", _nothing, _file, _content),
    Row("rewrite with O_TRUNC", _file, lambda p: _write(p, b"version two"), _content),
    Row("overwrite in place, same size", _file, _overwrite_in_place, _content),
    Row("append", _file, _append, _content),
    Row("rename over an existing name", _file, _rename_over, _content),
    Row("move in from another directory", _nothing, _move_in, _content),
    Row("move in from another directory, over a file", _file, _move_in, _content),
    Row("move out to another directory", _file, _move_out, _content),
    Row("unlink", _file, lambda p: p.unlink(), _content),
    Row("chmod", _file, lambda p: p.chmod(0o600), _meta),
    Row("chown", _file, lambda p: os.chown(p, 33, 33), _meta),
    Row("mkdir", _nothing, _dir, _listing),
    Row("rmdir", _dir, lambda p: p.rmdir(), _listing),
)


def measure_row(row: Row, writer_dir: Path, reader_dir: Path, limit: float = 10.0) -> float:
    """Seconds from the change's return on the writer's mount (when the writer has it: what a site
    acknowledges) until the reader's mount shows the writer's state; `limit` if it never did. The
    change's own duration does not count: under load a rename through FUSE takes tens of ms."""
    name = f"c-{row.name.replace(' ', '-').replace(',', '')}-{time.time_ns()}"
    mine, theirs = writer_dir / name, reader_dir / name
    row.prepare(mine)
    deadline = time.monotonic() + limit
    while row.observe(theirs) != row.observe(mine) and time.monotonic() < deadline:
        time.sleep(0.01)  # the reader sees the prepared state (a new name may take a moment)
    for _ in range(3):
        row.observe(theirs)  # the reader looks it up and reads it: caches primed
    row.change(mine)
    start = time.perf_counter()
    want = row.observe(mine)
    while row.observe(theirs) != want:
        elapsed = time.perf_counter() - start
        if elapsed > limit:
            return limit
        time.sleep(0.005)
    took = time.perf_counter() - start
    with contextlib.suppress(OSError):
        if mine.is_dir():
            shutil.rmtree(mine)
        else:
            mine.unlink()
        mine.with_name(mine.name + ".new").unlink(missing_ok=True)
    return took


def measure_all(writer_dir: Path, reader_dir: Path, rounds: int = 3, limit: float = 10.0) -> dict[str, list[float]]:
    writer_dir.mkdir(parents=True, exist_ok=True)
    return {row.name: [measure_row(row, writer_dir, reader_dir, limit) for _ in range(rounds)] for row in ROWS}
