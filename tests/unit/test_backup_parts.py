"""Backups below the commands: schedule rules, the restic argv refusing what it cannot pass safely,
and the swap that puts a restore in place (rollback on a failure halfway)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargohold.errors import UsageError
from cargohold.fleet.backup import check_repository, parse_duration
from cargohold.model import BackupRecord, BackupSpec, RunRecord, backup_problems, is_due, parse_time
from cargohold.restic import swap
from cargohold.restic.wire import Restic, check_snapshot_id, check_tag

SPEC = BackupSpec("a.example.com", ("files/a.example.com",), "/srv/repo", "/etc/p", every_s=3600,
                  verify_every_s=86400, keep=(("daily", 7),), cache_dir="/tmp/c", check_slices=10)
NOW = 1_000_000.0


def run(age: float, ok: bool = True) -> RunRecord:
    return RunRecord(at=NOW - age, ok=ok, error="" if ok else "boom")


def test_durations_and_repositories_are_full_matches():
    assert parse_duration("24h") == 86400 and parse_duration("7d") == 604800 and parse_duration("30m") == 1800
    for bad in ("24h\n", "1 day", "-1h", "0h", "h", "24H"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for good in ("/srv/backup/restic", "sftp:backup@store.example.com:/srv/restic", "rest:https://h:8000/r"):
        assert check_repository(good) == good
    for bad in ("-o", "sftp:u@h:/x y", "sftp:u@h:rel", "rest:ftp://h/", "s3:s3.amazonaws.com/b", "/srv/../etc",
                "local:/srv/r", "sftp:-oProxyCommand=x@h:/x"):
        with pytest.raises(ValueError):
            check_repository(bad)


def test_restic_argv_refuses_control_characters_and_bad_tags_and_ids():
    restic = Restic("/srv/repo", "/etc/p", "/tmp/c")
    assert restic._argv("snapshots", ["--json"])[:2] == ["restic", "snapshots"]
    with pytest.raises(UsageError):
        restic._argv("backup", ["/srv/a\nb"])
    for tag in ("site=a b", "site=", "SITE=x", "site=-x", "a=b,c=d"):
        with pytest.raises(UsageError):
            check_tag(tag)
    for snap in ("latest", "--help", "abc", "0123456z"):
        with pytest.raises(UsageError):
            check_snapshot_id(snap)


def test_due_and_overdue_follow_the_schedule():
    never = BackupRecord("a.example.com")
    assert is_due(SPEC, never, NOW)
    assert backup_problems(SPEC, never, NOW) == ["backup a.example.com: never backed up"]
    fresh = never.with_backup(run(60)).with_drill(run(30))
    assert not is_due(SPEC, fresh, NOW) and backup_problems(SPEC, fresh, NOW) == []
    assert is_due(SPEC, never.with_backup(run(3600)), NOW)
    late = never.with_backup(run(3600 * 1.6)).with_drill(run(30))
    assert any("old" in p for p in backup_problems(SPEC, late, NOW))
    failed = fresh.with_backup(run(10, ok=False))
    assert is_due(SPEC, failed, NOW)
    assert failed.last_good_backup == fresh.last_good_backup
    assert any("last backup failed: boom" in p for p in backup_problems(SPEC, failed, NOW))
    undrilled = never.with_backup(run(60))
    assert any("no restore drill yet" in p for p in backup_problems(SPEC, undrilled, NOW))
    bad_drill = fresh.with_drill(run(5, ok=False))
    assert any("restore drill failed" in p for p in backup_problems(SPEC, bad_drill, NOW))
    assert BackupRecord.from_json("a.example.com", fresh.to_json()) == fresh
    assert BackupRecord.from_json("a.example.com", {"last_backup": "garbage"}) == never


def test_parse_time_reads_iso_and_assumes_utc():
    assert parse_time("2026-12-05").isoformat() == "2026-12-05T00:00:00+00:00"
    assert parse_time("2026-12-05T06:30:00Z").isoformat() == "2026-12-05T06:30:00+00:00"
    with pytest.raises(ValueError):
        parse_time("yesterday")


def make(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def content(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_swap_makes_live_the_restore_keeps_the_rest_aside_and_never_follows_links(tmp_path: Path):
    live, staged, aside = tmp_path / "live", tmp_path / "staged", tmp_path / "aside"
    make(live, {"untouched": b"same bytes", "same.txt": b"old", "gone.txt": b"only live", "dir/a": b"old a",
                "was-dir/x": b"x", "file-then-dir": b"f"})
    make(staged, {"untouched": b"same bytes", "same.txt": b"new", "dir/a": b"new a", "dir/b": b"new b",
                  "was-dir": b"now a file",
                  "file-then-dir/y": b"y", "added": b"added"})
    (live / "link").symlink_to("/etc")
    inode, untouched = live.stat().st_ino, (live / "untouched").stat().st_ino
    want = content(staged)
    journal = swap.swap_in(str(live), str(staged), str(aside))
    assert content(live) == want and live.stat().st_ino == inode
    assert (aside / "same.txt").read_bytes() == b"old" and (aside / "gone.txt").read_bytes() == b"only live"
    assert (aside / "link").is_symlink() and os.readlink(aside / "link") == "/etc"
    assert (aside / "was-dir" / "x").read_bytes() == b"x" and (aside / "dir" / "a").read_bytes() == b"old a"
    assert journal.replaced == 2 and journal.moved_aside >= 4 and journal.unchanged == 1
    assert (live / "untouched").stat().st_ino == untouched and not (aside / "untouched").exists()


def test_swap_that_fails_halfway_leaves_the_live_area_as_it_was(tmp_path: Path, monkeypatch):
    live, staged, aside = tmp_path / "live", tmp_path / "staged", tmp_path / "aside"
    before = {f"f{i:02d}": f"old {i}".encode() for i in range(20)} | {"only-live": b"mine"}
    make(live, before)
    make(staged, {f"f{i:02d}": f"new {i}".encode() for i in range(25)})
    calls = {"n": 0}
    real_rename = os.rename

    def failing_rename(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:
            raise OSError(28, "No space left on device")
        return real_rename(*args, **kwargs)

    monkeypatch.setattr(swap.os, "rename", failing_rename)
    with pytest.raises(swap.SwapFailed, match="the live area is as it was"):
        swap.swap_in(str(live), str(staged), str(aside))
    monkeypatch.setattr(swap.os, "rename", real_rename)
    assert content(live) == before


def test_restic_exit_3_is_a_failure_that_names_the_unreadable_files(tmp_path: Path, monkeypatch):
    """restic's exit code 3 ("snapshot created, some files could not be read"), from a stand-in restic
    that answers as 0.14 does (the lab runs as root, which reads every file)."""
    fake = tmp_path / "bin" / "restic"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    "echo '{\"message_type\":\"error\",\"error\":{},\"during\":\"archival\","
                    "\"item\":\"/srv/a/secret.bin\"}' >&2\n"
                    "echo '{\"message_type\":\"summary\",\"total_files_processed\":3,\"total_bytes_processed\":10,"
                    "\"data_added\":5,\"total_duration\":0.1,\"snapshot_id\":\"0123abcd\"}'\n"
                    "exit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    summary = Restic("/srv/repo", "/etc/p", str(tmp_path / "c")).backup("/srv/a", ["site=a.example.com"], "f")
    assert summary.snapshot == "0123abcd" and summary.unreadable == ("/srv/a/secret.bin",)
    fake.write_text("#!/bin/sh\necho 'Fatal: wrong password or no key found' >&2\nexit 1\n")
    with pytest.raises(Exception, match="wrong password or no key found") as err:
        Restic("/srv/repo", "/etc/p", str(tmp_path / "c")).backup("/srv/a", ["site=a.example.com"], "f")
    assert getattr(err.value, "code", None) == 1


def test_an_unreadable_file_the_site_removed_meanwhile_is_not_a_loss_one_still_there_is(tmp_path: Path):
    from cargohold.restic import split_unreadable

    (tmp_path / "kept.bin").write_bytes(b"x")
    gone, kept = str(tmp_path / ".up-1.dat.part"), str(tmp_path / "kept.bin")
    assert split_unreadable([gone, kept]) == ([gone], [kept])
    assert split_unreadable([]) == ([], [])
