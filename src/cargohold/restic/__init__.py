"""The backup driver: each site area a restic snapshot, read through the storage mount on this
machine; retention; restores into a directory or, safely, into the live area; the restore drill.

Records of every run are kept on the storage root (records.py), so `status` on any admin machine
sees the age of the last good backup and drill."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from cargohold.errors import RuntimeFailure, StorageError, UsageError
from cargohold.model import BackupRecord, BackupSpec, Desired, RunRecord
from cargohold.restic.records import (
    read_json,
    read_record,
    remember_snapshot,
    snapshot_sizes,
    stamp,
    state_path,
    write_json,
    write_record,
)
from cargohold.restic.restore import Choice, area_dir, restore_area
from cargohold.restic.swap import Journal, SwapFailed, rollback, swap_in
from cargohold.restic.wire import (
    Restic,
    ResticFailed,
    Snapshot,
    Summary,
    check_password_file,
    check_snapshot_id,
)
from cargohold.storage.safepath import UnsafePath, remove_tree_below

__all__ = ["ResticBackups", "Snapshot", "Summary", "Choice"]

Report = Callable[[str], None]


class ResticBackups:
    name = "restic"

    def __init__(self, desired: Desired) -> None:
        self.fleet = desired.fleet
        self.specs = {b.domain: b for b in desired.backups}

    def close(self) -> None:
        pass

    def spec(self, domain: str) -> BackupSpec:
        try:
            return self.specs[domain]
        except KeyError:
            raise UsageError(f"{domain} is not backed up (no `backup:` for it in the fleet file)") from None

    def preflight(self, specs: Sequence[BackupSpec]) -> None:
        """Bad input before anything runs (exit 2): each password file a regular 0600 file."""
        for spec in specs:
            check_password_file(spec.password_file)

    def restic(self, spec: BackupSpec) -> Restic:
        check_password_file(spec.password_file)
        os.makedirs(spec.cache_dir, mode=0o700, exist_ok=True)
        return Restic(spec.repository, spec.password_file, spec.cache_dir)

    def tags(self, spec: BackupSpec, area: str | None = None) -> list[str]:
        return [f"fleet={self.fleet}", f"site={spec.domain}", *([f"area={area}"] if area else [])]

    def init_repositories(self) -> list[str]:
        done = []
        for repository, spec in {s.repository: s for s in self.specs.values()}.items():
            try:
                self.restic(spec).init()
                done.append(f"created repository {repository}")
            except ResticFailed as exc:
                if "already" not in str(exc) and "exists" not in str(exc):
                    raise
                done.append(f"repository {repository} exists already")
        return done

    # -- backup ------------------------------------------------------------------------------------

    def backup(self, spec: BackupSpec, root: str, progress: Report, at: str | None = None) -> RunRecord:
        """A snapshot of every area of the site, retention after each; the run recorded on the root."""
        start = time.monotonic()
        snapshots: dict[str, str] = {}
        files = size = added = 0
        error = ""
        try:
            restic = self.restic(spec)
            for relpath in spec.areas:
                area = relpath.split("/", 1)[0]
                progress(f"{spec.domain}: backing up {area}")

                def step(text: str, area: str = area) -> None:
                    progress(f"{spec.domain} {area}: {text}")

                summary = restic.backup(area_dir(root, relpath), self.tags(spec, area), host=self.fleet, at=at,
                                        progress=step)
                snapshots[area] = summary.snapshot
                remember_snapshot(root, spec.domain, summary.snapshot, summary.files, summary.bytes)
                files, size, added = files + summary.files, size + summary.bytes, added + summary.added
                # A file the site renamed or deleted between restic's scan and its read (an upload's
                # temporary file, say) is gone from the site too: not a loss. One that still exists is.
                vanished, missing = split_unreadable(summary.unreadable)
                if vanished:
                    progress(f"{spec.domain} {area}: {len(vanished)} file(s) removed by the site while "
                             f"restic read them: {', '.join(vanished[:5])}")
                if missing:
                    raise RuntimeFailure(f"{spec.domain} {area}: restic could not read {len(missing)} "
                                         f"file(s), snapshot {summary.snapshot} lacks them: "
                                         f"{', '.join(missing[:5])}")
        except (RuntimeFailure, StorageError, UsageError) as exc:
            error = str(exc)
            raise
        finally:
            run = RunRecord(time.time(), not error, error, snapshots, files, size, added, time.monotonic() - start)
            write_record(root, read_record(root, spec.domain).with_backup(run))
        return run

    def retain(self, specs: Sequence[BackupSpec]) -> None:
        """Retention (forget --prune) for these sites: one restic call per repository and policy, each
        site and area its own group, so that one prune serves every site backed up in this run."""
        groups: dict[tuple[str, tuple[tuple[str, int], ...]], list[BackupSpec]] = {}
        for spec in specs:
            groups.setdefault((spec.repository, spec.keep), []).append(spec)
        for (_repository, keep), members in groups.items():
            self.restic(members[0]).forget([self.tags(spec) for spec in members], keep)

    # -- snapshots and restores ---------------------------------------------------------------------

    def snapshots(self, spec: BackupSpec) -> list[Snapshot]:
        return self.restic(spec).snapshots(self.tags(spec))

    def choose(self, spec: BackupSpec, snapshot: str | None, at: datetime | None, area: str | None,
               live: bool = False) -> list[Choice]:
        """The snapshot of each area to restore; UsageError (exit 2) when there is none to pick. Into
        the live areas, `logs` only when asked for: an instance keeps appending to the log file it has
        open, which a restore would move aside."""
        areas = {relpath.split("/", 1)[0]: relpath for relpath in spec.areas}
        if area is not None and area not in areas:
            raise UsageError(f"--area {area!r}: {spec.domain} has the areas {', '.join(areas)}")
        names = [area] if area else [a for a in areas if not (live and a == "logs")]
        if snapshot is None and at is None:  # the newest of each: restic picks it by the area's tags
            return [Choice(areas[name], None) for name in names]
        snaps = self.snapshots(spec)
        if snapshot is not None:
            check_snapshot_id(snapshot.lower())
            found = [s for s in snaps if s.id.startswith(snapshot.lower())]
            if len(found) != 1:
                raise UsageError(f"--snapshot {snapshot}: {'no' if not found else 'more than one'} snapshot of "
                                 f"{spec.domain} has that id")
            chosen_area = found[0].tag("area") or ""
            if chosen_area not in areas or (area is not None and area != chosen_area):
                raise UsageError(f"--snapshot {snapshot} is of area {chosen_area!r}, not one to restore here")
            return [Choice(areas[chosen_area], found[0])]
        choices = []
        for name in names:
            of_area = [s for s in snaps if s.tag("area") == name]
            if at is not None:
                before = [s for s in of_area if datetime.fromisoformat(s.time) <= at]
                if not before:
                    first = of_area[0].time if of_area else "none"
                    raise UsageError(f"--at {at.isoformat()} is before the first snapshot of {spec.domain} "
                                     f"{name} ({first})")
                of_area = before
            if not of_area:
                raise UsageError(f"{spec.domain} {name}: no snapshot in {spec.repository}")
            choices.append(Choice(areas[name], of_area[-1]))
        return choices

    def restore_to(self, spec: BackupSpec, choices: Sequence[Choice], target: str, progress: Report) -> list[str]:
        """Each chosen area into <target>/<area> (which must not exist), checked against its snapshot."""
        restic = self.restic(spec)
        done = []
        for choice in choices:
            into = os.path.join(target, choice.area)
            if os.path.lexists(into):
                raise UsageError(f"--to: {into} exists already; give a new directory")
        os.makedirs(target, exist_ok=True)
        for choice in choices:
            into = os.path.join(target, choice.area)
            progress(f"{spec.domain}: restoring {choice.area} into {into}")
            restored = restore_area(restic, choice, self.tags(spec, choice.area), into)
            done.append(f"{restored.describe(choice.area)} in {into}")
        return done

    def restore_live(self, spec: BackupSpec, root: str, choices: Sequence[Choice], progress: Report) -> list[str]:
        """Into the live areas: staged on the same volume and checked first; then put in place entry
        by entry (swap.py), every area or none; the previous content kept aside."""
        restic = self.restic(spec)
        run = stamp()
        for relpath in (c.relpath for c in choices):
            area_dir(root, relpath)
        _remove_old_staging(root, spec.domain)
        staging = state_path(root, "staging", f"{spec.domain}-{run}")
        try:
            checked = []
            for choice in choices:
                progress(f"{spec.domain}: restoring {choice.area} into staging")
                checked.append(restore_area(restic, choice, self.tags(spec, choice.area),
                                            os.path.join(staging, choice.area)))
            aside = state_path(root, "aside", spec.domain, run)
            journals: list[tuple[str, str, str, Journal]] = []
            done = []
            try:
                for choice, restored in zip(choices, checked, strict=True):
                    progress(f"{spec.domain}: putting {choice.area} in place")
                    live, staged, kept = (area_dir(root, choice.relpath), os.path.join(staging, choice.area),
                                          os.path.join(aside, choice.area))
                    journal = swap_in(live, staged, kept)
                    journals.append((live, staged, kept, journal))
                    done.append(f"{restored.describe(choice.area)}; {journal.unchanged} unchanged, {journal.replaced} "
                                f"replaced, {journal.added} added, {journal.moved_aside} moved aside")
            except BaseException:
                for live, staged, kept, journal in reversed(journals):  # every area or none
                    rollback(live, staged, kept, journal)
                raise
        except SwapFailed as exc:
            raise RuntimeFailure(f"restore of {spec.domain}: {exc}") from None
        finally:
            remove_tree_below(root, os.path.relpath(staging, root))
        if not any(j.replaced or j.moved_aside for _, _, _, j in journals):
            remove_tree_below(root, os.path.relpath(aside, root))  # nothing was replaced: nothing to keep
            done.append("nothing was replaced or moved aside")
            return done
        done.append(f"the previous content is kept in {aside} "
                    f"(`cargohold backup aside {spec.domain} --purge` deletes it)")
        return done

    # -- the restore drill -------------------------------------------------------------------------

    def drill(self, specs: Sequence[BackupSpec], root: str, scratch: str | None, progress: Report) -> list[RunRecord]:
        """Restore the latest snapshot of each area into scratch and check it against the snapshot
        (names, sizes; --verify reads every byte back against the repository); then `restic check`
        of one rotating slice of each repository's data. Each site's result recorded on the root."""
        runs = []
        failed_repos: dict[str, str] = {}
        for repository, spec in {s.repository: s for s in specs}.items():
            slices = read_json(root, "check-slices.json")
            current = int(str(slices.get(repository, 0))) % spec.check_slices + 1
            progress(f"checking {repository}: data slice {current}/{spec.check_slices}")
            try:
                self.restic(spec).check(f"{current}/{spec.check_slices}")
            except (RuntimeFailure, UsageError) as exc:
                failed_repos[repository] = f"repository check {current}/{spec.check_slices}: {exc}"
            slices[repository] = current
            write_json(root, "check-slices.json", slices)
        for spec in specs:
            start = time.monotonic()
            files = size = 0
            drilled: dict[str, str] = {}
            error = failed_repos.get(spec.repository, "")
            try:
                restic = self.restic(spec)
                for choice in self.choose(spec, None, None, None):
                    progress(f"{spec.domain}: drill of {choice.area}")
                    place = tempfile.mkdtemp(prefix=f"cargohold-drill-{spec.domain}-", dir=scratch)
                    try:
                        restored = restore_area(restic, choice, self.tags(spec, choice.area),
                                                os.path.join(place, choice.area), thorough=True)
                    finally:
                        shutil.rmtree(place, ignore_errors=True)
                    files, size = files + restored.files, size + restored.bytes
                    drilled[choice.area] = restored.snapshot
            except (RuntimeFailure, UsageError, StorageError) as exc:
                error = f"{error}; {exc}" if error else str(exc)
            run = RunRecord(time.time(), not error, error, drilled, files, size, 0, time.monotonic() - start)
            write_record(root, read_record(root, spec.domain).with_drill(run))
            runs.append(run)
        return runs

    def sizes(self, root: str, domain: str) -> dict[str, tuple[int, int]]:
        """short snapshot id -> (files, bytes), as each backup reported it."""
        return snapshot_sizes(root, domain)

    def records(self, root: str) -> dict[str, BackupRecord]:
        return {domain: read_record(root, domain) for domain in self.specs}

    # -- what restores put aside -------------------------------------------------------------------

    def aside(self, root: str, domain: str) -> list[str]:
        base = os.path.join(root, ".cargohold-backup", "aside", domain)
        return sorted(os.listdir(base)) if os.path.isdir(base) and not os.path.islink(base) else []

    def purge_aside(self, root: str, domain: str) -> list[str]:
        removed = []
        for run in self.aside(root, domain):
            relpath = f".cargohold-backup/aside/{domain}/{run}"
            try:
                if remove_tree_below(root, relpath):
                    removed.append(relpath)
            except (UnsafePath, OSError) as exc:
                raise StorageError(f"{relpath}: {exc}") from None
        return removed


def _remove_old_staging(root: str, domain: str) -> None:
    """What an interrupted restore left in staging (never the live area): ours to remove."""
    base = os.path.join(root, ".cargohold-backup", "staging")
    if not os.path.isdir(base) or os.path.islink(base):
        return
    for name in os.listdir(base):
        if name.startswith(f"{domain}-"):
            remove_tree_below(root, f".cargohold-backup/staging/{name}")


def split_unreadable(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """restic's unreadable files split into those gone from the site since restic's scan (renamed or
    deleted by the site: not a loss) and those still there, which the snapshot lacks."""
    vanished = [path for path in paths if not os.path.lexists(path)]
    return vanished, [path for path in paths if os.path.lexists(path)]
