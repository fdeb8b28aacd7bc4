"""Processes by the pid we recorded, never by name: start, stop, and the mounts and cgroups they leave."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

from cargohold.errors import RuntimeFailure
from cargohold.wait import Timeout, wait_until


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def spawn(argv: list[str], logfile: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
    """Start argv detached (own session, so a Ctrl-C of the CLI does not kill it); record its pid."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise RuntimeFailure(f"cannot start {argv[0]}: {exc}") from None
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_pid(pid: int, grace: float = 15.0, expect: str | None = None) -> None:
    """SIGTERM, wait up to grace seconds, then SIGKILL. With `expect`, only a process whose command
    line contains it is signalled: a recorded pid may have been reused by something else."""
    if not pid_alive(pid):
        return
    if expect is not None and expect not in cmdline(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not pid_alive(pid), grace, f"pid {pid} to exit", interval=0.05)
    except Timeout:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Timeout):
            wait_until(lambda: not pid_alive(pid), 5, f"pid {pid} to die", interval=0.05)
    # Reap it if it is our child (the lab's tests start daemons in-process).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below path, deepest first (so they can be unmounted in order)."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            target = line.split()[1].encode().decode("unicode_escape")
            if target == str(path) or target.startswith(prefix):
                found.append(target)
    return sorted(set(found), key=len, reverse=True)


def unmount_all_below(path: Path) -> None:
    for target in mounts_below(path):
        result = subprocess.run(["umount", target], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", target], capture_output=True, timeout=30)


def names_path(command: str, path: str) -> bool:
    """Does the command line name `path` itself or something below it? Not merely a path that
    starts with the same characters (/dev/shm/lab must not match /dev/shm/lab2)."""
    path = path.rstrip("/")
    return re.search(re.escape(path) + r"(?=[/\s=:,]|$)", command) is not None


def pids_naming(path: Path) -> list[int]:
    """Processes whose command line names `path` (a lab directory no other program uses)."""
    own = os.getpid()
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and int(p) != own and names_path(cmdline(int(p)), str(path))]


def kill_cgroup(name: str) -> int:
    """SIGKILL every process in the cgroup `name` (all hierarchies) and remove it; returns the count.

    The lab's engine puts its containers under a cgroup parent of its own, so after a crash (a
    SIGKILLed dockerd leaves its containers running) they can be found without guessing by name.
    """
    base = Path("/sys/fs/cgroup")
    tops = [base / name] + [d / name for d in base.iterdir() if d.is_dir()] if base.is_dir() else []
    killed = 0
    for top in tops:
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            try:
                pids = [int(p) for p in procs.read_text().split()]
            except (OSError, ValueError):
                continue
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
    for top in tops:
        if top.is_dir():
            for sub in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
    return killed
