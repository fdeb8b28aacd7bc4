"""The backup state kept on the storage root (so every admin machine sees it), under one directory
of cargohold's own: records of the last runs, staging for restores, the content a restore put aside."""

from __future__ import annotations

import json
import os
import stat
import time

from cargohold.errors import StorageError
from cargohold.files import atomic_write
from cargohold.model import BackupRecord

STATE_DIR = ".cargohold-backup"


def state_path(root: str, *parts: str) -> str:
    """<root>/.cargohold-backup/<parts>, the state directory created (0700) and checked not a link."""
    path = root
    for part in (STATE_DIR, *parts):
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise StorageError(f"{path} is not a directory (a link is refused)") from None
    return path


def read_record(root: str, domain: str) -> BackupRecord:
    path = os.path.join(root, STATE_DIR, "records", f"{domain}.json")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return BackupRecord(domain)
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, encoding="utf-8") as fh:
        try:
            return BackupRecord.from_json(domain, json.load(fh))
        except ValueError:
            return BackupRecord(domain)


def write_record(root: str, record: BackupRecord) -> None:
    directory = state_path(root, "records")
    atomic_write(directory, f"{record.domain}.json", json.dumps(record.to_json(), indent=1).encode(), 0o600)


def read_json(root: str, name: str) -> dict[str, object]:
    try:
        with open(os.path.join(root, STATE_DIR, name), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(root: str, name: str, data: dict[str, object]) -> None:
    directory, _, base = name.rpartition("/")
    atomic_write(state_path(root, *filter(None, [directory])), base, json.dumps(data).encode(), 0o600)


def stamp(now: float | None = None) -> str:
    """A sortable name for one restore: 20261205T063000Z."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def remember_snapshot(root: str, domain: str, snapshot: str, files: int, size: int) -> None:
    """restic 0.14's `snapshots` tells no sizes: each snapshot's files and bytes, as its backup said."""
    name = f"snapshots/{domain}.json"
    state_path(root, "snapshots")
    index = read_json(root, name)
    index[snapshot] = [files, size]
    write_json(root, name, index)


def snapshot_sizes(root: str, domain: str) -> dict[str, tuple[int, int]]:
    index = read_json(root, f"snapshots/{domain}.json")
    return {k: (int(v[0]), int(v[1])) for k, v in index.items() if isinstance(v, list) and len(v) == 2}
