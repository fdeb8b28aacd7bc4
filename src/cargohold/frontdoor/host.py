"""Where a front door runs: this machine (LocalHost) or a web node reached over SSH (NodeHost).

HAProxy and its log writer are host processes of the node they serve, as Debian's haproxy package
runs them: files, processes, signals and the admin socket all go through one of these, so the
front door of a remote node is started, reloaded, drained and observed on that node, and dies
with it. A node needs `haproxy` and `python3` (docs/production.md).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from cargohold.errors import RuntimeFailure
from cargohold.frontdoor import logd
from cargohold.nodes.base import CommandResult, Executor
from cargohold.nodes.local import LocalExecutor
from cargohold.process import pid_alive, read_pid, spawn, stop_pid

SOCKET_TIMEOUT = 5.0
HAPROXY_USER = "haproxy"  # workers run as this user (Debian's haproxy package creates it)


class DoorHost(Protocol):
    node: str

    def run(self, argv: list[str], timeout: float = 30) -> CommandResult: ...
    def read(self, path: str) -> str | None: ...
    def write(self, path: str, data: bytes, mode: int = 0o644) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def mkdir(self, path: str, mode: int = 0o755) -> None: ...
    def mkdirs(self, paths: Sequence[str], mode: int = 0o755) -> None: ...
    def unlink(self, path: str) -> None: ...
    def exists(self, path: str) -> bool: ...
    def haproxy_gid(self) -> int: ...
    def spawn(self, argv: list[str], log: str, pidfile: str) -> int: ...
    def pid(self, pidfile: str) -> int | None: ...
    def alive(self, pid: int) -> bool: ...
    def signal(self, pid: int, sig: int) -> None: ...
    def stop(self, pid: int, grace: float, expect: str) -> None: ...
    def admin(self, socket_path: str, command: str) -> str: ...
    def logd_argv(self, home: str) -> list[str]: ...


class LocalHost:
    """This machine: the front door of a node that is this machine (the lab's, a one-machine fleet)."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.executor = LocalExecutor(node)

    def run(self, argv: list[str], timeout: float = 30) -> CommandResult:
        return self.executor.run(argv, timeout)

    def read(self, path: str) -> str | None:
        return self.executor.read_file(path)

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.executor.write_file(path, data, mode)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)

    def mkdirs(self, paths: Sequence[str], mode: int = 0o755) -> None:
        for path in paths:
            self.mkdir(path, mode)

    def unlink(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def haproxy_gid(self) -> int:
        try:
            pwd.getpwnam(HAPROXY_USER)
            return grp.getgrnam(HAPROXY_USER).gr_gid
        except KeyError:
            raise RuntimeFailure(f"front door on {self.node}: no user {HAPROXY_USER!r} to run HAProxy's workers as "
                                 "(apt-get install haproxy creates it)") from None

    def spawn(self, argv: list[str], log: str, pidfile: str) -> int:
        return spawn(argv, Path(log), Path(pidfile))

    def pid(self, pidfile: str) -> int | None:
        return read_pid(Path(pidfile))

    def alive(self, pid: int) -> bool:
        return pid_alive(pid)

    def signal(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def stop(self, pid: int, grace: float, expect: str) -> None:
        stop_pid(pid, grace=grace, expect=expect)

    def admin(self, socket_path: str, command: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(SOCKET_TIMEOUT)
                sock.connect(socket_path)
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise RuntimeFailure(f"front door on {self.node}: admin socket: {exc}") from None
        return b"".join(chunks).decode(errors="replace")

    def logd_argv(self, home: str) -> list[str]:
        return [sys.executable, logd.__file__]


# Talks to HAProxy's admin socket on the node: one command in, the whole answer out.
_ADMIN = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX);s.settimeout(float(sys.argv[3]));s.connect(sys.argv[1])\n"
    "s.sendall(sys.argv[2].encode()+b'\\n');out=b''\n"
    "while True:\n"
    " c=s.recv(65536)\n"
    " if not c:break\n"
    " out+=c\n"
    "sys.stdout.write(out.decode('utf-8','replace'))\n"
)
# Starts argv in a session of its own, detached from the SSH channel; prints its pid.
_SPAWN = 'log="$1"; shift; setsid "$@" </dev/null >>"$log" 2>&1 & echo $!'
# SIGTERM to pid if its command line names $2, wait up to $3 s, then SIGKILL.
_STOP = (
    'p="$1"; want="$2"; n="$3"; kill -0 "$p" 2>/dev/null || exit 0; '
    'tr "\\0" " " < "/proc/$p/cmdline" | grep -qF -- "$want" || exit 0; kill -TERM "$p"; '
    'i=0; while kill -0 "$p" 2>/dev/null && [ "$i" -lt "$n" ]; do sleep 0.1; i=$((i+1)); done; '
    'kill -KILL "$p" 2>/dev/null; exit 0'
)


class NodeHost:
    """A web node over SSH (its executor: known host keys only, one connection reused)."""

    def __init__(self, node: str, executor: Executor) -> None:
        self.node = node
        self.executor = executor

    def run(self, argv: list[str], timeout: float = 30) -> CommandResult:
        return self.executor.run(argv, timeout)

    def _ok(self, argv: list[str], what: str, timeout: float = 30) -> CommandResult:
        result = self.run(argv, timeout)
        if not result.ok:
            raise RuntimeFailure(f"front door on {self.node}: {what}: {result.brief()}")
        return result

    def read(self, path: str) -> str | None:
        return self.executor.read_file(path)

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.executor.write_file(path, data, mode)

    def rename(self, src: str, dst: str) -> None:
        self._ok(["mv", "-f", "--", src, dst], f"mv {src}")

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self.mkdirs([path], mode)

    def mkdirs(self, paths: Sequence[str], mode: int = 0o755) -> None:
        """Every path, with its mode, in one round trip."""
        self._ok(["sh", "-c", 'm="$1"; shift; mkdir -p -m "$m" -- "$@" && chmod "$m" -- "$@"', "mkdirs",
                  f"{mode:o}", *paths], f"mkdir {' '.join(paths)}")

    def unlink(self, path: str) -> None:
        self.run(["rm", "-f", "--", path])

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path]).ok

    def haproxy_gid(self) -> int:
        # The group's line, and the user's existence, in one round trip.
        result = self.run(["sh", "-c", 'getent group "$1" && id -u "$1" >/dev/null', "gid", HAPROXY_USER])
        fields = result.stdout.strip().split(":")
        if not result.ok or len(fields) < 3 or not fields[2].isdigit():
            raise RuntimeFailure(f"front door on {self.node}: no user {HAPROXY_USER!r} on the node "
                                 "(apt-get install haproxy creates it)")
        return int(fields[2])

    def spawn(self, argv: list[str], log: str, pidfile: str) -> int:
        out = self._ok(["sh", "-c", _SPAWN, "spawn", log, *argv], f"start {argv[0]}").stdout.strip()
        if not out.isdigit():
            raise RuntimeFailure(f"front door on {self.node}: start {argv[0]}: no pid ({out[:100]!r})")
        self.write(pidfile, f"{out}\n".encode())
        return int(out)

    def pid(self, pidfile: str) -> int | None:
        text = (self.read(pidfile) or "").strip()
        return int(text) if text.isdigit() else None

    def alive(self, pid: int) -> bool:
        return self.run(["kill", "-0", str(pid)]).ok

    def signal(self, pid: int, sig: int) -> None:
        self.run(["kill", f"-{signal.Signals(sig).name.removeprefix('SIG')}", str(pid)])

    def stop(self, pid: int, grace: float, expect: str) -> None:
        self.run(["sh", "-c", _STOP, "stop", str(pid), expect, str(int(grace * 10))], timeout=grace + 10)

    def admin(self, socket_path: str, command: str) -> str:
        result = self.run(["python3", "-I", "-S", "-c", _ADMIN, socket_path, command, str(SOCKET_TIMEOUT)],
                          timeout=SOCKET_TIMEOUT + 10)
        if not result.ok:
            raise RuntimeFailure(f"front door on {self.node}: admin socket: {result.brief()}")
        return result.stdout

    def logd_argv(self, home: str) -> list[str]:
        """The log writer, copied to the node (standard library only) when it differs."""
        path = f"{home}/logd.py"
        source = Path(logd.__file__).read_bytes()
        if (self.read(path) or "").encode() != source:
            self.write(path, source, 0o644)
        return ["python3", path]
