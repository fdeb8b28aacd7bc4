"""Backups against real restic on a local storage root: retention, --at, the restore drill catching a
tampered pack, a repository that is gone, restores that fail leaving the live area as it was, bad
input. (Restores under traffic through the GlusterFS lab: test_backup_gluster.py.)"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from cargohold import backup as backing
from cargohold.backends import connect
from cargohold.fleet import load_fleet
from conftest import FleetFixture, demo_site

A, B = "a.example.com", "b.example.com"


def tree(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def backed(fleet: FleetFixture, tmp_path: Path) -> FleetFixture:
    """A fleet of two sites with a restic repository; areas made by hand (no instance needed)."""
    password = tmp_path / "restic.pass"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    fleet.write([demo_site(A, 21300), demo_site(B, 21310)],
                backup={"repository": str(tmp_path / "repo"), "password_file": str(password),
                        "cache_dir": str(tmp_path / "cache"), "keep": {"daily": 2, "monthly": 2}})
    assert fleet.cli("storage", "init").code == 0
    for domain in (A, B):
        for area in ("files", "logs"):
            (fleet.root / area / domain).mkdir(parents=True)
        for i in range(5):
            (fleet.root / "files" / domain / f"up-{i}.dat").write_bytes(os.urandom(1000 * (i + 1)))
        (fleet.root / "files" / domain / "sub").mkdir()
        (fleet.root / "files" / domain / "sub" / "deep.txt").write_text(f"{domain}\n")
    result = fleet.cli("backup", "init")
    assert result.code == 0 and "created repository" in result.out, result.err
    return fleet


def backup_at(fleet: FleetFixture, domain: str, at: str) -> None:
    backends = connect(load_fleet(fleet.path))
    try:
        results = backing.backup_sites(load_fleet(fleet.path), backends, [domain], False, lambda _: None, at=at)
    finally:
        backends.close()
    assert [r.ok for r in results] == [True], results


def test_retention_keeps_exactly_the_expected_snapshots_and_at_picks_the_right_one(backed: FleetFixture, tmp_path):
    times = ["2026-01-01 10:00:00", "2026-01-15 10:00:00", "2026-02-01 10:00:00", "2026-02-02 10:00:00",
             "2026-02-03 09:00:00", "2026-02-03 10:00:00"]
    for at in times:
        backup_at(backed, A, at)
    rows = backed.cli("backups", A, "--json").json()
    kept = sorted({r["time"][:19] for r in rows if r["area"] == "files"})
    # keep daily 2 (the newest of each of the 2 newest days), monthly 2 (the newest of 2 months)
    assert kept == ["2026-01-15T10:00:00", "2026-02-02T10:00:00", "2026-02-03T10:00:00"], rows
    assert {r["area"] for r in rows} == {"files", "logs"} and all(r["files"] is not None for r in rows)
    by_time = {r["time"][:19]: r["id"] for r in rows if r["area"] == "files"}
    result = backed.cli("restore", A, "--at", "2026-02-02T23:00:00Z", "--area", "files", "--to", str(tmp_path / "o"))
    assert result.code == 0, result.err
    assert by_time["2026-02-02T10:00:00"] in result.out
    assert tree(tmp_path / "o" / "files") == tree(backed.root / "files" / A)
    early = backed.cli("restore", A, "--at", "2025-12-31", "--to", str(tmp_path / "p"))
    assert early.code == 2 and "before the first snapshot" in early.err
    assert not (tmp_path / "p").exists()


def test_live_restore_puts_back_every_byte_and_keeps_what_it_replaced(backed: FleetFixture):
    assert backed.cli("backup", A).code == 0
    live = backed.root / "files" / A
    snapshot = tree(live)
    (live / "up-0.dat").unlink()
    (live / "up-1.dat").write_bytes(b"corrupt")
    (live / "sub" / "deep.txt").write_text("changed\n")
    (live / "later.txt").write_text("written after the backup\n")
    inode = live.stat().st_ino
    result = backed.cli("restore", A)
    assert result.code == 0, result.err
    assert tree(live) == snapshot
    assert live.stat().st_ino == inode, "the area directory (what instances bind-mount) is the same one"
    aside = next((backed.root / ".cargohold-backup" / "aside" / A).iterdir()) / "files"
    assert (aside / "later.txt").read_text() == "written after the backup\n"
    assert (aside / "up-1.dat").read_bytes() == b"corrupt"
    assert not list((backed.root / ".cargohold-backup" / "staging").iterdir()), "staging is cleaned up"
    listed = backed.cli("backup", "aside", A)
    assert listed.code == 0 and aside.parent.name in listed.out
    purge = backed.cli("backup", "aside", A, "--purge", "--yes")
    assert purge.code == 0 and not aside.exists()


def test_tampered_pack_fails_the_drill_naming_the_site_and_a_failed_restore_changes_nothing(
        backed: FleetFixture, tmp_path):
    repo = tmp_path / "repo"
    assert backed.cli("backup", A).code == 0
    before = set((repo / "data").rglob("*"))
    assert backed.cli("backup", B).code == 0
    packs = sorted(p for p in set((repo / "data").rglob("*")) - before if p.is_file())
    assert packs, "B's backup wrote packs of its own"
    drill = backed.cli("backup", "verify", "--json")
    assert drill.code == 0, drill.err
    status = backed.cli("status", "--json", "--no-usage").json()
    assert not [r for r in status["degraded"] if r.startswith("backup ")], status["degraded"]
    for pack in packs:  # flip bytes in the middle of each of B's packs
        pack.chmod(0o644)
        data = bytearray(pack.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
        pack.write_bytes(bytes(data))
    drill = backed.cli("backup", "verify", "--json")
    assert drill.code == 1
    results = {r["site"]: r for r in drill.json()}
    assert not results[B]["ok"] and B in drill.err
    status = backed.cli("status", "--json", "--no-usage")
    assert status.code == 1
    assert any(r.startswith(f"backup {B}: last restore drill failed") for r in status.json()["degraded"])
    # A restore from the tampered snapshot fails before the live area is touched.
    live = backed.root / "files" / B
    (live / "new-since.txt").write_text("keep me\n")
    before_restore = tree(live)
    failed = backed.cli("restore", B, "--area", "files")
    assert failed.code == 1 and "restic" in failed.err
    assert tree(live) == before_restore


def test_a_missing_repository_fails_loudly_and_status_is_degraded(backed: FleetFixture, tmp_path):
    assert backed.cli("backup").code == 0
    shutil.move(tmp_path / "repo", tmp_path / "repo-gone")
    result = backed.cli("backup", A)
    assert result.code == 1
    assert "restic backup" in result.err and ("does not exist" in result.err or "config" in result.err), result.err
    status = backed.cli("status", "--json", "--no-usage")
    assert status.code == 1
    assert any(r.startswith(f"backup {A}: last backup failed") for r in status.json()["degraded"])
    shutil.move(tmp_path / "repo-gone", tmp_path / "repo")
    password = tmp_path / "restic.pass"
    good = password.read_text()
    password.write_text("not the password\n")
    wrong = backed.cli("backup", A)
    assert wrong.code == 1 and "wrong password" in wrong.err, wrong.err
    assert "not the password" not in wrong.err + wrong.out
    password.write_text(good)
    # --due picks the failed site (and not the one that is fine)
    due = backed.cli("backup", "--due", "--json")
    assert due.code == 0, due.err
    runs = due.json()
    assert [r["site"] for r in runs if r["kind"] == "backup"] == [A]
    assert sorted(r["site"] for r in runs if r["kind"] == "drill") == [A, B]  # no drill yet: both due
    again = backed.cli("backup", "--due", "--json")
    assert again.code == 0 and again.json() == [] and "nothing is due" not in again.out


def test_bad_input_is_refused_with_exit_2(backed: FleetFixture, tmp_path):
    assert backed.cli("backup", A).code == 0
    for args, expect in [
        (["restore", "c.example.com"], "not a site of the fleet file"),
        (["restore", A, "--snapshot", "deadbeef"], "no snapshot"),
        (["restore", A, "--snapshot", "--help-me"], "not"),
        (["restore", A, "--at", "yesterday"], "not a time"),
        (["restore", A, "--area", "nope"], "has the areas"),
        (["backup", "Bad..Domain"], "not a valid domain"),
        (["backups", "c.example.com"], "not a site"),
    ]:
        result = backed.cli(*args)
        assert result.code == 2, (args, result.err)
        assert expect in result.err, (args, result.err)
    password = Path(load_fleet(backed.path).backup.password_file)  # type: ignore[union-attr]
    password.chmod(0o644)
    result = backed.cli("backup", A)
    assert result.code == 2 and "chmod 600" in result.err


def lock_written(repo: Path) -> bool:
    """restic writes a lock as `<id>-tmp-<n>` and then renames it to `<id>`: a restic stopped before
    the rename holds no lock another restic sees, so only a lock under its final name counts."""
    return any(re.fullmatch(r"[0-9a-f]{64}", p.name) for p in (repo / "locks").iterdir())


def test_a_lock_held_and_a_full_disk_fail_with_restics_reason(backed: FleetFixture, tmp_path):
    import signal
    import subprocess
    import time

    assert backed.cli("backup", A).code == 0
    repo, password = tmp_path / "repo", tmp_path / "restic.pass"
    # Another restic holds the repository exclusively (a prune or check elsewhere): stopped right
    # after it took its lock (tried again if it was done before it could be stopped).
    locked = None
    for _attempt in range(5):
        holder = subprocess.Popen(["restic", "--repo", str(repo), "--password-file", str(password), "--no-cache",
                                   "check", "--read-data"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not lock_written(repo) and time.monotonic() < deadline and holder.poll() is None:
                time.sleep(0.002)
            holder.send_signal(signal.SIGSTOP)
            if holder.poll() is None and lock_written(repo):
                locked = backed.cli("backup", A)
        finally:
            holder.send_signal(signal.SIGCONT)
            holder.wait(timeout=60)
        if locked is not None:
            break
    assert locked is not None, "restic check never held its lock long enough to be stopped"
    assert locked.code == 1 and "locked" in locked.err, locked.err
    # A repository on a full disk: a 1 MiB tmpfs of the test's own.
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "cargohold-test-full", str(small)], check=True)
    try:
        subprocess.run(["restic", "--repo", str(small / "repo"), "--password-file", str(password), "init"],
                       check=True, capture_output=True)
        big = backed.root / "files" / A / "big.bin"
        big.write_bytes(os.urandom(4 << 20))
        text = backed.path.read_text().replace(str(repo), str(small / "repo"))
        backed.path.write_text(text)
        before = tree(backed.root / "files" / A)
        full = backed.cli("backup", A)
        assert full.code == 1 and "no space left on device" in full.err.lower(), full.err
        assert tree(backed.root / "files" / A) == before
        status = backed.cli("status", "--json", "--no-usage").json()
        assert any(r.startswith(f"backup {A}: last backup failed") for r in status["degraded"])
    finally:
        subprocess.run(["umount", str(small)], check=False)
