"""Backups, restores and restore drills of the fleet's sites (the `backup:` section), read through
the storage mount on this machine; the fleet's storage root must carry its marker."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.fleet.fields import check_domain
from cargohold.model import BackupSpec, RunRecord, is_due

if TYPE_CHECKING:
    from cargohold.backends import Backends
    from cargohold.fleet.schema import Fleet
    from cargohold.restic import ResticBackups

Report = Callable[[str], None]


@dataclass(frozen=True)
class SiteResult:
    domain: str
    run: RunRecord | None  # None: the run could not even start (see error)
    error: str = ""
    kind: str = "backup"  # or "drill"

    @property
    def ok(self) -> bool:
        return bool(self.run and self.run.ok and not self.error)

    @property
    def problem(self) -> str:
        return self.error or (self.run.error if self.run else "")

    def to_json(self) -> dict[str, object]:
        run = self.run
        return {"site": self.domain, "kind": self.kind, "ok": self.ok, "error": self.problem,
                "snapshots": run.snapshots if run else {}, "files": run.files if run else 0,
                "bytes": run.bytes if run else 0, "added": run.added if run else 0,
                "seconds": round(run.seconds, 3) if run else 0}


def driver(backends: Backends) -> ResticBackups:
    if backends.backup is None:
        raise UsageError("the fleet file has no `backup:` section (repository, password_file), or no site to back up")
    return backends.backup


def storage_root(fleet: Fleet, backends: Backends) -> str:
    """Where this machine sees the storage root; refused unless it carries the fleet's marker (a
    backup of an empty mount point would be a backup of nothing)."""
    state = backends.storage.check_root(fleet.fleet)
    if not state.ok:
        raise RuntimeFailure(f"storage root {state.root}: {state.reason}; nothing was backed up or restored")
    return state.root


def pick(backends: Backends, fleet: Fleet, domains: Sequence[str]) -> list[BackupSpec]:
    """The specs of `domains` (all backed-up sites when empty); exit 2 for a domain not in the file."""
    backups = driver(backends)
    if not domains:
        backups.preflight(list(backups.specs.values()))
        return list(backups.specs.values())
    specs = []
    for domain in domains:
        try:
            check_domain(domain)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not any(s.domain == domain for s in fleet.sites):
            raise UsageError(f"{domain} is not a site of the fleet file")
        specs.append(backups.spec(domain))
    backups.preflight(specs)
    return specs


def backup_sites(fleet: Fleet, backends: Backends, domains: Sequence[str], due: bool, progress: Report,
                 at: str | None = None) -> list[SiteResult]:
    """Back up each site (with `due`: only those due); one failing site does not stop the others."""
    specs = pick(backends, fleet, domains)
    root = storage_root(fleet, backends)
    backups = driver(backends)
    if due:
        records, now = backups.records(root), time.time()
        specs = [s for s in specs if is_due(s, records[s.domain], now)]
    results = []
    for spec in specs:
        try:
            results.append(SiteResult(spec.domain, backups.backup(spec, root, progress, at=at)))
        except (RuntimeFailure, UsageError) as exc:
            results.append(SiteResult(spec.domain, None, str(exc)))
    good = [spec for spec, result in zip(specs, results, strict=True) if result.ok]
    if good:
        progress(f"retention for {len(good)} site(s)")
        try:
            backups.retain(good)
        except (RuntimeFailure, UsageError) as exc:  # the snapshots are made; the repository only grows
            results = [r if not r.ok else SiteResult(r.domain, r.run, f"retention: {exc}") for r in results]
    return results


def drills_due(fleet: Fleet, backends: Backends) -> list[BackupSpec]:
    """Sites whose last good drill is older than verify_every (or failed, or never ran), and that have
    a good backup to drill."""
    root = storage_root(fleet, backends)
    backups = driver(backends)
    records, now = backups.records(root), time.time()
    due = []
    for spec in backups.specs.values():
        record = records[spec.domain]
        if record.last_good_backup is None:
            continue
        drill = record.last_drill
        if drill is None or not drill.ok or now - drill.at >= spec.verify_every_s:
            due.append(spec)
    return due


def verify_sites(fleet: Fleet, backends: Backends, specs: Sequence[BackupSpec], scratch: str | None,
                 progress: Report) -> list[SiteResult]:
    root = storage_root(fleet, backends)
    runs = driver(backends).drill(specs, root, scratch, progress)
    return [SiteResult(spec.domain, run, kind="drill") for spec, run in zip(specs, runs, strict=True)]


def snapshot_rows(fleet: Fleet, backends: Backends, domains: Sequence[str]) -> list[dict[str, object]]:
    root = storage_root(fleet, backends)
    backups = driver(backends)
    rows: list[dict[str, object]] = []
    for spec in pick(backends, fleet, domains):
        sizes = backups.sizes(root, spec.domain)
        for snap in backups.snapshots(spec):
            files, size = sizes.get(snap.short_id, (None, None))
            rows.append({"site": spec.domain, "area": snap.tag("area"), "id": snap.short_id, "time": snap.time,
                         "files": files, "bytes": size})
    return rows


def restore_site(fleet: Fleet, backends: Backends, domain: str, snapshot: str | None, at: datetime | None,
                 area: str | None, to: str | None, progress: Report) -> list[str]:
    """Restore into `to` (a new directory) or, without it, into the live areas (see ResticBackups)."""
    if snapshot is not None and at is not None:
        raise UsageError("give --snapshot or --at, not both")
    spec = pick(backends, fleet, [domain])[0]
    backups = driver(backends)
    root = storage_root(fleet, backends) if to is None else None
    choices = backups.choose(spec, snapshot, at, area, live=to is None)
    if to is not None:
        return backups.restore_to(spec, choices, to, progress)
    assert root is not None
    return backups.restore_live(spec, root, choices, progress)
