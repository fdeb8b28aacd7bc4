"""Health-check commands that run inside an instance."""

from __future__ import annotations

import shlex
from collections.abc import Iterable


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
