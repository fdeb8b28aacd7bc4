"""Run commands on this machine."""

from __future__ import annotations

import os
import subprocess

from cargohold.errors import RuntimeFailure
from cargohold.nodes.base import CommandResult


class LocalExecutor:
    def __init__(self, name: str = "local") -> None:
        self.name = name

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(
                f"{self.name}: `{' '.join(argv[:4])} …` did not answer within {timeout:.0f}s"
            ) from None
        except OSError as exc:
            raise RuntimeFailure(f"{self.name}: cannot run {argv[0]}: {exc}") from None
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Written whole under a temporary name, then renamed: a reader sees the old or the new."""
        tmp = f"{path}.cargohold-tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            try:
                os.fchmod(fd, mode)
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            raise RuntimeFailure(f"{self.name}: cannot write {path}: {exc}") from None

    def read_file(self, path: str, timeout: float = 10) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None
