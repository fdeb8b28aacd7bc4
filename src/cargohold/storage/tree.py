"""A storage root as a directory tree (the local backend, and the management view of a shared one)."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Sequence

from cargohold.errors import RuntimeFailure, StorageError, UsageError
from cargohold.files import atomic_write
from cargohold.model import DirSpec, ObservedDir, StorageState, Usage
from cargohold.storage.safepath import (
    UnsafePath,
    ensure_dir_below,
    lstat_below,
    remove_tree_below,
    usage_below,
)

# Written once by `storage init` at the root; apply refuses to start instances without it, so a
# missing mount never sends a site's uploads silently to an empty local directory.
MARKER_FILE = ".cargohold-fleet.json"
# Beside it: the areas cargohold created for each site; `site purge` deletes only those.
AREAS_FILE = ".cargohold-areas.json"


class StorageTree:
    """A storage root as a directory tree: its marker, the per-site directories and their record."""

    def __init__(self, root: str, require_mount: bool = False) -> None:
        self.root = root
        self.require_mount = require_mount

    def _not_mounted(self) -> str | None:
        if self.require_mount and not os.path.ismount(self.root):
            return ("is not a mount point (storage.mount is true: the shared storage must be mounted here; "
                    "set storage.mount: false for a plain directory)")
        return None

    def read_marker(self) -> dict[str, object] | None:
        try:
            with open(os.path.join(self.root, MARKER_FILE), encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(f"storage root {self.root}: marker {MARKER_FILE} is unreadable: {exc}") from None
        return data if isinstance(data, dict) else None

    def check_root(self, fleet: str) -> StorageState:
        if not os.path.isdir(self.root):
            return StorageState(self.root, False, "does not exist or is not a directory (is the storage mounted?)")
        not_mounted = self._not_mounted()
        if not_mounted:
            return StorageState(self.root, False, not_mounted)
        try:
            marker = self.read_marker()
        except StorageError as exc:
            return StorageState(self.root, False, str(exc))
        if marker is None:
            return StorageState(
                self.root,
                False,
                f"no {MARKER_FILE} marker: this is not an initialised storage root (is the storage mounted? "
                "a new root is initialised once with `cargohold storage init`)",
            )
        if marker.get("fleet") != fleet:
            return StorageState(self.root, False, f"marker says fleet {marker.get('fleet')!r}, not {fleet!r}")
        return StorageState(self.root, True)

    def observe_dirs(self, dirs: Sequence[DirSpec]) -> tuple[ObservedDir, ...]:
        if not os.path.isdir(self.root):
            return tuple(ObservedDir(d.relpath, False) for d in dirs)
        return tuple(self._observe_dir(d.relpath) for d in dirs)

    def _observe_dir(self, relpath: str) -> ObservedDir:
        try:
            st = lstat_below(self.root, relpath)
        except UnsafePath as exc:
            return ObservedDir(relpath, True, problem=str(exc))
        if st is None:
            return ObservedDir(relpath, False)
        if stat.S_ISLNK(st.st_mode):
            return ObservedDir(relpath, True, problem="is a symlink (cargohold never follows links below the root)")
        if not stat.S_ISDIR(st.st_mode):
            return ObservedDir(relpath, True, problem="exists but is not a directory")
        return ObservedDir(relpath, True, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))

    def ensure_dir(self, spec: DirSpec) -> None:
        try:
            area, _, domain = spec.relpath.partition("/")
            self._record_area(domain, area)  # first: purge may delete only what is on record
            ensure_dir_below(self.root, spec.relpath, spec.uid, spec.gid, spec.mode)
        except (UnsafePath, OSError) as exc:
            raise StorageError(f"{spec.target}: {exc}") from None

    def recorded_areas(self) -> dict[str, list[str]]:
        """domain -> the areas cargohold created for it on this root (AREAS_FILE)."""
        try:
            with open(os.path.join(self.root, AREAS_FILE), encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StorageError(f"storage root {self.root}: {AREAS_FILE} is unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise StorageError(f"storage root {self.root}: {AREAS_FILE} is not a mapping")
        return {str(k): [str(a) for a in v] for k, v in data.items() if isinstance(v, list)}

    def _record_area(self, domain: str, area: str) -> None:
        record = self.recorded_areas()
        if area in record.get(domain, []):
            return
        record[domain] = sorted({*record.get(domain, []), area})
        self._write_record(record)

    def _write_record(self, record: dict[str, list[str]]) -> None:
        atomic_write(self.root, AREAS_FILE, json.dumps(record, indent=1, sort_keys=True).encode(), 0o644)

    def area_path(self, relpath: str) -> str | None:
        """root/relpath when it is a directory reached without a link; None when it does not exist."""
        try:
            st = lstat_below(self.root, relpath)
        except UnsafePath as exc:
            raise StorageError(f"{relpath}: {exc}") from None
        if st is None:
            return None
        if not stat.S_ISDIR(st.st_mode):
            raise StorageError(f"{self.root}/{relpath} is not a directory (a link is never followed)")
        return os.path.join(self.root, relpath)

    def usage(self, relpath: str) -> Usage | None:
        try:
            if lstat_below(self.root, relpath) is None:
                return None
            return Usage(*usage_below(self.root, relpath))
        except (UnsafePath, OSError):
            return None

    def init_root(self, fleet: str, force: bool = False) -> str:
        """Write the fleet marker. Refuses a root that belongs to another fleet, or that holds site
        data but no marker (a lost mount or a restore: look before you claim it) unless force."""
        if self.require_mount:  # never into an empty mount point: a lost mount would then pass the guard
            why = self._not_mounted() if os.path.isdir(self.root) else "does not exist (is the storage mounted?)"
            if why:
                raise RuntimeFailure(f"storage root {self.root} {why}; no marker written")
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        marker = self.read_marker()
        if marker is not None:
            if marker.get("fleet") == fleet:
                return f"storage root {self.root} is already initialised for fleet {fleet}"
            raise UsageError(f"storage root {self.root} belongs to fleet {marker.get('fleet')!r}; not touching it")
        existing = [e for e in os.listdir(self.root) if not e.startswith(".")]
        if existing and not force:
            raise UsageError(
                f"storage root {self.root} has no marker but is not empty ({', '.join(sorted(existing)[:5])}); "
                "check it is the right root, then run again with --force"
            )
        marker = {"fleet": fleet, "initialised": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write(self.root, MARKER_FILE, json.dumps(marker).encode(), 0o644)
        return f"initialised storage root {self.root} for fleet {fleet}"

    def site_dirs(self, domain: str) -> list[str]:
        """Every <area>/<domain> that cargohold created for the site (on record at the root) and that
        exists; never another directory that happens to carry the domain's name (a backup, say)."""
        found = []
        for area in self.recorded_areas().get(domain, []):
            try:
                if lstat_below(self.root, f"{area}/{domain}") is not None:
                    found.append(f"{area}/{domain}")
            except UnsafePath:
                continue
        return found

    def purge(self, domain: str) -> list[str]:
        removed = []
        for relpath in self.site_dirs(domain):
            try:
                if remove_tree_below(self.root, relpath):
                    removed.append(relpath)
            except (UnsafePath, OSError) as exc:
                raise StorageError(f"purge {relpath}: {exc}") from None
        record = self.recorded_areas()
        if record.pop(domain, None) is not None:
            self._write_record(record)
        return removed
