"""Health checks as the Docker engine runs them inside an instance."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

from cargohold.model import HealthCheck

_NS = 1_000_000_000


def mounts_answer(targets: Iterable[str], wait: float = 1.0) -> str:
    """Shell: fails when a storage mount answers with an error (a lost FUSE client: ENOTCONN, or a
    missing directory), passes while it is only slow. A storage pause (a hung brick) stalls every
    node alike, and replacing the instances would not help but take every one down at once; so the
    test runs in the background and still pending after `wait` seconds counts as paused, not lost."""
    dirs = " && ".join(f"test -d {shlex.quote(t)}" for t in targets)
    steps = int(wait * 10)
    return (f"( {dirs} ) >/dev/null 2>&1 & p=$!; i=0; "
            f"while kill -0 $p 2>/dev/null && [ $i -lt {steps} ]; do sleep 0.1; i=$((i+1)); done; "
            "if kill -0 $p 2>/dev/null; then true; else wait $p; fi")


def health_test(check: HealthCheck, port: int) -> list[str]:
    """A Docker HEALTHCHECK test. HTTP checks use whichever client the image has."""
    if check.command is not None:
        return ["CMD-SHELL", check.command]
    url = f"http://127.0.0.1:{port}{check.http}"
    t = max(1, int(check.timeout))
    return [
        "CMD-SHELL",
        f"if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null --max-time {t} '{url}'; "
        f"elif command -v python3 >/dev/null 2>&1; then "
        f"python3 -c 'import urllib.request as u; u.urlopen(\"{url}\", timeout={t})'; "
        f"else wget -q -O /dev/null -T {t} '{url}'; fi",
    ]


def healthcheck_config(check: HealthCheck | None, port: int) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "test": health_test(check, port),
        "interval": int(check.interval * _NS),
        "timeout": int(check.timeout * _NS),
        "retries": check.retries,
        "start_period": int(check.start_period * _NS),
    }
