"""bench/smallfile: a Drupal-like small-file workload through the mount, cargohold's profile vs
GlusterFS defaults vs the local disk, in one run; and how long a file written through one web node's
mount takes to become visible (with the right content) through the other's.

Operations (N files of 4 KiB in one directory, like sites/default/files): create, stat, open+read,
negative lookups (stat of names that do not exist, what PHP's file_exists does), readdir.
The local directory lies on the same filesystem as the bricks (tmpfs in the lab), so the gap to
local is the network file system's own cost.

Run: scripts/setup && .venv/bin/python bench/smallfile.py [--files 500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import contextlib

from glusterlab import BenchCluster  # noqa: E402

DATA = b"x" * 4096


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    ops = fn()
    return ops / (time.perf_counter() - start)


def workload(directory: Path, n: int) -> dict[str, float]:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    names = [directory / f"img-{i:05d}.png" for i in range(n)]

    def create() -> int:
        for p in names:
            with open(p, "wb") as fh:
                fh.write(DATA)
        return n

    def stat() -> int:
        for p in names:
            os.stat(p)
        return n

    def read() -> int:
        for p in names:
            with open(p, "rb") as fh:
                fh.read()
        return n

    def negative() -> int:
        for i in range(n):
            with contextlib.suppress(FileNotFoundError):
                os.stat(directory / f"missing-{i:05d}.png")
        return n

    def readdir() -> int:
        for _ in range(20):
            os.listdir(directory)
        return 20

    result = {"create": timed(create), "stat": timed(stat), "read": timed(read),
              "negative_lookup": timed(negative), "readdir": timed(readdir)}
    # A second pass of the read side: what a busy site sees once caches are warm (the same files
    # and the same missing names asked again, as PHP's file_exists() does on every request).
    result["stat_warm"] = timed(stat)
    result["read_warm"] = timed(read)
    result["negative_lookup_warm"] = timed(negative)
    return result


def median_workload(directory: Path, n: int, rounds: int) -> dict[str, float]:
    runs = [workload(directory, n) for _ in range(rounds)]
    return {op: statistics.median(r[op] for r in runs) for op in runs[0]}


def visibility(writer_dir: Path, reader_dir: Path, rounds: int = 15) -> dict[str, float]:
    """Seconds from close() on node A to node B seeing the new file, and new content of an existing one.
    The reader looks the name up first, so a negative-lookup cache would have to be invalidated."""
    writer_dir.mkdir(parents=True, exist_ok=True)
    new_file, changed = [], []
    for i in range(rounds):
        name = f"vis-{i}-{time.time_ns()}"
        assert not (reader_dir / name).exists()
        start = time.perf_counter()
        (writer_dir / name).write_bytes(b"v1")
        new_file.append(_poll(lambda n=name: (reader_dir / n).exists() and (reader_dir / n).read_bytes() == b"v1",
                              start))
        (reader_dir / name).read_bytes()  # the reader now has it cached
        start = time.perf_counter()
        (writer_dir / name).write_bytes(b"version-2")
        changed.append(_poll(lambda n=name: (reader_dir / n).read_bytes() == b"version-2", start))
    return {"new_file_max_s": max(new_file), "new_file_median_s": statistics.median(new_file),
            "changed_max_s": max(changed), "changed_median_s": statistics.median(changed)}


def _poll(pred: Callable[[], bool], start: float, limit: float = 120.0) -> float:
    while not pred():
        if time.perf_counter() - start > limit:
            return limit
        time.sleep(0.005)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs per target")
    args = parser.parse_args()
    cluster = BenchCluster()
    cluster.up()
    try:
        local = cluster.lab.home / "local-disk"
        results = {
            "local": median_workload(local / "files", args.files, args.rounds),
            "cargohold": median_workload(cluster.mount("prof", 1) / "files", args.files, args.rounds),
            "defaults": median_workload(cluster.mount("dflt", 1) / "files", args.files, args.rounds),
        }
        vis = {
            "cargohold": visibility(cluster.mount("prof", 1) / "vis", cluster.mount("prof", 2) / "vis"),
            "defaults": visibility(cluster.mount("dflt", 1) / "vis", cluster.mount("dflt", 2) / "vis"),
        }
    finally:
        cluster.down()
    ops = list(results["local"])
    print(f"{'ops/s':>16} " + " ".join(f"{k:>12}" for k in ("local", "cargohold", "defaults", "ours/dflt",
                                                              "ours/local")))
    for op in ops:
        row = [results[k][op] for k in ("local", "cargohold", "defaults")]
        print(f"{op:>16} " + " ".join(f"{v:12.0f}" for v in row)
              + f" {row[1] / row[2]:12.2f} {row[1] / row[0]:12.3f}")
    for name, v in vis.items():
        print(f"visibility {name:>9}: new file median {v['new_file_median_s'] * 1000:.0f} ms, max "
              f"{v['new_file_max_s'] * 1000:.0f} ms; changed content median {v['changed_median_s'] * 1000:.0f} ms,"
              f" max {v['changed_max_s'] * 1000:.0f} ms")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "smallfile.json").write_text(json.dumps({"machine": platform.platform(), "files": args.files,
                                                    "ops_per_s": results, "visibility": vis}, indent=2))


if __name__ == "__main__":
    main()
