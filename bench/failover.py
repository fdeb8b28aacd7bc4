"""bench/failover: how long writes pause when one data node hangs, cargohold's profile vs GlusterFS
defaults, in the same run on the same cluster.

A writer fsyncs a 4 KiB file every 0.2 s through a mount; node s2's glusterd and the volume's brick
get SIGSTOP until the writer has made progress again (or 150 s pass), then SIGCONT. The pause is the
longest gap between two acknowledged writes. Target: the profile's pause <= 1/4 of the default's,
with zero write errors.

Run: scripts/setup && .venv/bin/python bench/failover.py
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cargohold.wait import wait_until  # noqa: E402
from glusterlab import BenchCluster  # noqa: E402


def measure(cluster: BenchCluster, volume: str) -> dict[str, float]:
    directory = cluster.mount(volume, 1) / "failover"
    directory.mkdir(exist_ok=True)
    acked: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 5000:
            try:
                fd = os.open(directory / f"f{n:05d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, os.urandom(4096))
                os.fsync(fd)
                os.close(fd)
                acked.append(time.monotonic())
            except OSError as exc:
                errors.append(str(exc))
            n += 1
            time.sleep(0.2)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    wait_until(lambda: len(acked) >= 10, 30, "the writer")
    pids = [cluster.brick_pid(volume, 2), cluster.glusterd_pid(2)]
    stopped_at = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        # Hold the node hung until writes flow again (the disconnect point), or 150 s.
        wait_until(lambda: len([t for t in acked if t > stopped_at]) >= 5, 150, "writes to resume", interval=0.5)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    time.sleep(2)
    stop.set()
    thread.join(30)
    gaps = [b - a for a, b in zip(acked, acked[1:], strict=False)]
    start = time.monotonic()
    wait_until(lambda: cluster.heal_total(volume) == 0, 900, f"{volume} to heal", interval=2)
    return {"pause_s": max(gaps), "errors": len(errors), "writes": len(acked),
            "heal_s": time.monotonic() - start}


def main() -> None:
    cluster = BenchCluster()
    cluster.up()
    try:
        results = {"cargohold": measure(cluster, "prof"), "defaults": measure(cluster, "dflt")}
    finally:
        cluster.down()
    ours, bare = results["cargohold"], results["defaults"]
    for name, r in results.items():
        print(f"{name:>9}: write pause {r['pause_s']:.1f} s, {r['errors']} errors, {r['writes']} writes, "
              f"healed in {r['heal_s']:.0f} s after recovery")
    print(f"ratio cargohold/defaults: {ours['pause_s'] / bare['pause_s']:.2f} (target <= 0.25)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "failover.json").write_text(json.dumps({"machine": platform.platform(), **results}, indent=2))


if __name__ == "__main__":
    main()
