"""Run commands on this machine."""

from __future__ import annotations

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

    def read_file(self, path: str, timeout: float = 10) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None
