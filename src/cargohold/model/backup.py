"""Backups as data: what each site's backup should be (BackupSpec), what the storage root records of
the last runs (BackupRecord), and the pure rules built on them: is a site due, is it overdue."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["BackupSpec", "RunRecord", "BackupRecord", "backup_problems", "is_due", "GRACE", "parse_time"]

# A site is overdue (status degraded) when its last good run is older than its schedule by more than
# this share of it: a daily backup that ran at 02:00 and runs again at 02:05 the next day is fine.
GRACE = 0.5


@dataclass(frozen=True)
class BackupSpec:
    """One site's backups: every area (`files/<domain>`, `logs/<domain>`, ...) as its own snapshot."""

    domain: str
    areas: tuple[str, ...]  # relpaths below the storage root, e.g. "files/www.example.com"
    repository: str
    password_file: str
    every_s: int
    verify_every_s: int
    keep: tuple[tuple[str, int], ...]  # (kind, count): ("daily", 7), ...
    cache_dir: str
    check_slices: int


@dataclass(frozen=True)
class RunRecord:
    """One backup or drill run of a site, as recorded on the storage root."""

    at: float  # unix time the run ended
    ok: bool
    error: str = ""
    snapshots: dict[str, str] = field(default_factory=dict)  # area -> snapshot id (backup); drilled (verify)
    files: int = 0
    bytes: int = 0
    added: int = 0  # new data in the repository
    seconds: float = 0.0

    @classmethod
    def from_json(cls, data: Any) -> RunRecord | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(at=float(data["at"]), ok=bool(data["ok"]), error=str(data.get("error", "")),
                       snapshots={str(k): str(v) for k, v in dict(data.get("snapshots", {})).items()},
                       files=int(data.get("files", 0)), bytes=int(data.get("bytes", 0)),
                       added=int(data.get("added", 0)), seconds=float(data.get("seconds", 0.0)))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class BackupRecord:
    """What the storage root holds for one site: the last backup and drill, and the last good ones."""

    domain: str
    last_backup: RunRecord | None = None
    last_good_backup: RunRecord | None = None
    last_drill: RunRecord | None = None
    last_good_drill: RunRecord | None = None
    check_slice: int = 0  # the next `restic check --read-data-subset` slice (1-based; 0: never ran)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, domain: str, data: Any) -> BackupRecord:
        if not isinstance(data, dict):
            return cls(domain)
        run = RunRecord.from_json
        return cls(domain, run(data.get("last_backup")), run(data.get("last_good_backup")),
                   run(data.get("last_drill")), run(data.get("last_good_drill")),
                   check_slice=int(data.get("check_slice", 0) or 0))

    def with_backup(self, run: RunRecord) -> BackupRecord:
        return BackupRecord(self.domain, run, run if run.ok else self.last_good_backup, self.last_drill,
                            self.last_good_drill, self.check_slice)

    def with_drill(self, run: RunRecord, check_slice: int | None = None) -> BackupRecord:
        return BackupRecord(self.domain, self.last_backup, self.last_good_backup, run,
                            run if run.ok else self.last_good_drill,
                            self.check_slice if check_slice is None else check_slice)


def is_due(spec: BackupSpec, record: BackupRecord, now: float) -> bool:
    """`backup --due`: never backed up, the last attempt failed, or the last good one is `every` old."""
    if record.last_good_backup is None or (record.last_backup is not None and not record.last_backup.ok):
        return True
    return now - record.last_good_backup.at >= spec.every_s


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def backup_problems(spec: BackupSpec, record: BackupRecord, now: float) -> list[str]:
    """Why monitoring should page for this site's backups (empty: fine)."""
    problems = []
    last, good = record.last_backup, record.last_good_backup
    if last is not None and not last.ok:
        problems.append(f"backup {spec.domain}: last backup failed: {last.error}")
    if good is None:
        problems.append(f"backup {spec.domain}: never backed up")
    elif now - good.at > spec.every_s * (1 + GRACE):
        problems.append(f"backup {spec.domain}: last good backup is {_age(now - good.at)} old "
                        f"(every {_age(spec.every_s)})")
    drill, good_drill = record.last_drill, record.last_good_drill
    if drill is not None and not drill.ok:
        problems.append(f"backup {spec.domain}: last restore drill failed: {drill.error}")
    if good is not None:  # a drill needs a backup first; "never backed up" says it all
        if good_drill is None:
            problems.append(f"backup {spec.domain}: no restore drill yet (cargohold backup verify)")
        elif now - good_drill.at > spec.verify_every_s * (1 + GRACE):
            problems.append(f"backup {spec.domain}: last good restore drill is {_age(now - good_drill.at)} old "
                            f"(every {_age(spec.verify_every_s)})")
    return problems


def parse_time(text: str) -> datetime:
    """restore --at: ISO 8601 ('2026-12-05', '2026-12-05T06:30', '...Z', '...+01:00'); no zone: UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--at {text!r} is not a time like 2026-12-05T06:30:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
