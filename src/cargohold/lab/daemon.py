"""Start and stop a lab daemon by the pid we recorded, never by name."""

from __future__ import annotations

import contextlib
import os
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


def stop_pid(pid: int, grace: float = 15.0) -> None:
    """SIGTERM, wait up to grace seconds, then SIGKILL."""
    if not pid_alive(pid):
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
