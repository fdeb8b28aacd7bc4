"""The Executor interface: run argv on a node with a timeout, get exit code and output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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


def executor_for(name: str, ssh: str | None) -> Executor:
    """Local commands for nodes on this machine; SSH (host keys checked) for remote ones."""
    if ssh is None:
        from cargohold.nodes.local import LocalExecutor

        return LocalExecutor(name)
    from cargohold.nodes.ssh import SSHExecutor

    return SSHExecutor(name, ssh)
