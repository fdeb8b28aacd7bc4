"""restic's command line, the low layer: argv built from checked values, JSON parsed, exit codes mapped
to one-line errors. Written against Debian 12's restic 0.14 (`restic help CMD` for each flag used)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cargohold.errors import RuntimeFailure, UsageError

# One argument restic gets from us: no control character, never a flag unless we wrote it.
_ARG_RE = re.compile(r"[^\x00-\x1f\x7f]{1,4096}")
_TAG_RE = re.compile(r"[a-z]{1,16}=[a-z0-9][a-z0-9._-]{0,252}")
_SNAPSHOT_RE = re.compile(r"[0-9a-f]{8,64}")
_ENV_KEEP = ("PATH", "HOME", "SSH_AUTH_SOCK", "LANG", "LC_ALL", "TMPDIR")

Progress = Callable[[str], None]


class ResticFailed(RuntimeFailure):
    """restic ran and failed; `code` is its exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Summary:
    snapshot: str
    files: int
    bytes: int
    added: int
    seconds: float
    unreadable: tuple[str, ...] = ()  # exit 3: files restic could not read (the snapshot lacks them)


class NoSnapshot(UsageError):
    """No snapshot matches (exit 2: there is nothing to restore)."""


@dataclass(frozen=True)
class Restored:
    """What `restic restore` said it restored."""

    snapshot: str  # short id
    path: str  # the backed-up directory, below the target
    time: str
    verified: int  # files read back and checked


_RESTORING = re.compile(r"restoring <Snapshot ([0-9a-f]{8,64}) of \[([^\]\n]*)\] at ([^\n]+?) by [^\n]*> to ")
_VERIFIED = re.compile(r"finished verifying (\d+) files")


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str  # RFC 3339, as restic writes it
    tags: tuple[str, ...]
    paths: tuple[str, ...]

    def tag(self, key: str) -> str | None:
        return next((t.split("=", 1)[1] for t in self.tags if t.startswith(f"{key}=")), None)


@dataclass(frozen=True)
class Node:
    path: str  # "/sub/name", relative to the snapshot's root
    type: str  # file, dir, symlink, ...
    size: int


def check_password_file(path: str) -> None:
    """A regular file (no symlink) readable by its owner only; its content is never read here."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"backup.password_file {path}: cannot open: {exc.strerror or exc} "
                         "(a symlink is refused)") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"backup.password_file {path}: not a regular file")
    if st.st_mode & 0o077:
        raise UsageError(f"backup.password_file {path} has mode {stat.S_IMODE(st.st_mode):04o}: it holds the key "
                         "to every backup, make it readable by its owner only (chmod 600)")


def check_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise UsageError(f"restic tag {tag!r} is not key=value of letters, digits, '.', '_', '-'")
    return tag


def check_snapshot_id(value: str) -> str:
    if not _SNAPSHOT_RE.fullmatch(value):
        raise UsageError(f"snapshot {value!r} is not a snapshot id (8 to 64 hex digits)")
    return value


def _reason(stderr: str) -> str:
    """restic's own words in one line: its Fatal lines, else its first line (what failed) and its last
    (what to do), e.g. "unable to create lock in backend: repository is already locked exclusively
    by PID …; the `unlock` command can be used to remove stale locks"."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.lstrip().startswith("{")]
    fatal = [ln for ln in lines if ln.startswith("Fatal:")]
    chosen = fatal or list(dict.fromkeys(lines[:1] + lines[-1:]))
    text = "; ".join(chosen) or "no message"
    return text[:600]


class Restic:
    """One repository, reached with its password file; every call has a deadline."""

    def __init__(self, repository: str, password_file: str, cache_dir: str, timeout: float = 6 * 3600) -> None:
        self.repository = repository
        self.password_file = password_file
        self.cache_dir = cache_dir
        self.timeout = timeout

    def _argv(self, verb: str, args: Sequence[str]) -> list[str]:
        argv = ["restic", verb, "--repo", self.repository, "--password-file", self.password_file,
                "--cache-dir", self.cache_dir, *args]
        for arg in argv:
            if not _ARG_RE.fullmatch(arg):
                raise UsageError(f"restic {verb}: refusing an argument with a control character: {arg!r}")
        return argv

    def _env(self) -> dict[str, str]:
        # Never restic's own variables from our environment (RESTIC_PASSWORD, RESTIC_REPOSITORY): the
        # fleet file says which repository and password, nothing else may change that.
        return {k: v for k, v in os.environ.items() if k in _ENV_KEEP}

    def run(self, verb: str, args: Sequence[str], cwd: str | None = None, timeout: float | None = None,
            on_line: Callable[[str], None] | None = None) -> tuple[int, str, str]:
        """(exit code, stdout, stderr). stdout lines go to `on_line` as they come."""
        argv = self._argv(verb, args)
        deadline = time.monotonic() + (timeout or self.timeout)
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                        cwd=cwd, env=self._env(), text=True)
            except FileNotFoundError:
                raise RuntimeFailure("restic is not installed (Debian: apt install restic)") from None
            out: list[str] = []
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    out.append(line)
                    if on_line is not None:
                        on_line(line)
                    if time.monotonic() > deadline:
                        raise subprocess.TimeoutExpired(argv, timeout or self.timeout)
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except (subprocess.TimeoutExpired, BaseException):
                proc.kill()
                proc.wait()
                raise
            err.seek(0)
            return code, "".join(out), err.read().decode(errors="replace")

    def _checked(self, verb: str, args: Sequence[str], **kw: Any) -> str:
        try:
            code, out, err = self.run(verb, args, **kw)
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(f"restic {verb}: no answer within {kw.get('timeout') or self.timeout:.0f} s") from None
        if code != 0:
            raise ResticFailed(f"restic {verb} ({self.repository}): {_reason(err)}", code)
        return out

    # -- verbs -----------------------------------------------------------------------------------

    def init(self) -> None:
        self._checked("init", [], timeout=300)

    def backup(self, directory: str, tags: Sequence[str], host: str, at: str | None = None,
               progress: Progress | None = None) -> Summary:
        """Snapshot of `directory`, by its absolute path (restic 0.14 refuses "." of an empty directory:
        "snapshot is empty"); restores take the content from below that path (Snapshot.paths)."""
        args = ["--json", "--host", host, *(a for t in tags for a in ("--tag", check_tag(t)))]
        if at is not None:
            args += ["--time", at]
        last = [0.0]

        def on_line(line: str) -> None:
            if progress is None or time.monotonic() - last[0] < 1:
                return
            msg = _json(line)
            if msg.get("message_type") == "status":
                last[0] = time.monotonic()
                progress(f"{100 * float(msg.get('percent_done', 0)):.0f}% of {msg.get('total_files', '?')} files")

        try:
            code, out, err = self.run("backup", [*args, directory], on_line=on_line)
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(f"restic backup of {directory}: no end within {self.timeout:.0f} s") from None
        messages = [_json(line) for line in out.splitlines()]
        errors = [m for m in messages if m.get("message_type") == "error"]
        errors += [m for m in (_json(line) for line in err.splitlines()) if m.get("message_type") == "error"]
        summary = next((m for m in messages if m.get("message_type") == "summary"), None)
        if code == 3 and summary is not None:
            items = tuple(str(m.get("item", "?")) for m in errors) or ("(restic named none)",)
            return _summary(summary, items)
        if code != 0 or summary is None:
            raise ResticFailed(f"restic backup of {directory} ({self.repository}): {_reason(err)}", code)
        return _summary(summary, ())

    def snapshots(self, tags: Sequence[str]) -> list[Snapshot]:
        out = self._checked("snapshots", ["--json", "--tag", ",".join(check_tag(t) for t in tags)], timeout=600)
        try:
            data = json.loads(out or "[]")
        except ValueError:
            raise RuntimeFailure(f"restic snapshots: unreadable answer: {out[:200]!r}") from None
        snaps = [Snapshot(str(s["id"]), str(s["short_id"]), str(s["time"]), tuple(s.get("tags") or ()),
                          tuple(s.get("paths") or ())) for s in data or []]
        return sorted(snaps, key=lambda s: s.time)

    def forget(self, groups: Sequence[Sequence[str]], keep: Sequence[tuple[str, int]], prune: bool = True) -> None:
        """Retention for the snapshots carrying all the tags of one of `groups` (each distinct tag set
        its own group: one per site and area), then one prune for all of them."""
        args = ["--group-by", "tags", *(["--prune"] if prune else [])]
        for tags in groups:
            args += ["--tag", ",".join(check_tag(t) for t in tags)]
        for kind, count in keep:
            args += [f"--keep-{kind}", str(int(count))]
        self._checked("forget", args, timeout=3600)

    def restore(self, snapshot: str | None, target: str, tags: Sequence[str] = ()) -> Restored:
        """The snapshot's content (None: the newest carrying all of `tags`) into `target`, which must
        not exist yet; every file read back and checked against the repository (--verify)."""
        which = [check_snapshot_id(snapshot)] if snapshot is not None else \
            ["latest", "--tag", ",".join(check_tag(t) for t in tags)]
        try:
            out = self._checked("restore", [*which, "--target", target, "--verify"])
        except ResticFailed as exc:
            if "latest snapshot for criteria not found" in str(exc):
                raise NoSnapshot(f"no snapshot with {', '.join(tags)} in {self.repository}") from None
            raise
        head = _RESTORING.search(out)
        verified = _VERIFIED.search(out)
        if head is None or verified is None:
            raise RuntimeFailure(f"restic restore: unexpected answer: {out[:300]!r}")
        return Restored(head.group(1), head.group(2), head.group(3), int(verified.group(1)))

    def ls(self, snapshot: str) -> list[Node]:
        out = self._checked("ls", ["--json", check_snapshot_id(snapshot)], timeout=3600)
        nodes = []
        for line in out.splitlines():
            msg = _json(line)
            if msg.get("struct_type") == "node":
                nodes.append(Node(str(msg["path"]), str(msg["type"]), int(msg.get("size", 0) or 0)))
        return nodes

    def check(self, subset: str) -> None:
        self._checked("check", [f"--read-data-subset={subset}"], timeout=6 * 3600)


def _json(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _summary(msg: dict[str, Any], unreadable: tuple[str, ...]) -> Summary:
    return Summary(snapshot=str(msg.get("snapshot_id", "")), files=int(msg.get("total_files_processed", 0)),
                   bytes=int(msg.get("total_bytes_processed", 0)), added=int(msg.get("data_added", 0)),
                   seconds=float(msg.get("total_duration", 0.0)), unreadable=unreadable)
