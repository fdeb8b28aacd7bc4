"""The Executor interface: run argv on a node with a timeout, get exit code and output."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from cargohold.model import SSHAccess


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def brief(self) -> str:
        text = (self.stderr or self.stdout).strip().replace("\n", " | ")
        return text[:300] or f"exit {self.code}"


class Executor(Protocol):
    name: str

    def run(self, argv: list[str], timeout: float) -> CommandResult: ...

    def read_file(self, path: str, timeout: float = 10) -> str | None: ...

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None: ...


_shared: dict[SSHAccess, Executor] = {}
_shared_lock = threading.Lock()


def close_all() -> None:
    """End every shared SSH connection (and forget which nodes did not answer): a command's end."""
    with _shared_lock:
        executors = list(_shared.values())
        _shared.clear()
    for executor in executors:
        close = getattr(executor, "close", None)
        if close is not None:
            close()


def executor_for(name: str, ssh: SSHAccess | None) -> Executor:
    """Local commands for nodes on this machine; SSH (host keys checked) for remote ones. One SSH
    executor per target in a process: every part of a command (storage guard, mounts, the
    canary, the front door) shares its connection, one session per node."""
    if ssh is None:
        from cargohold.nodes.local import LocalExecutor

        return LocalExecutor(name)
    with _shared_lock:
        found = _shared.get(ssh)
        if found is None:
            from cargohold.nodes.ssh import SSHExecutor

            found = _shared[ssh] = SSHExecutor(name, ssh.target, known_hosts=ssh.known_hosts, key_file=ssh.identity)
        return found
