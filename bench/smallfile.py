"""bench/smallfile: a Drupal-like small-file workload through the mount, cargohold's profile vs
GlusterFS defaults vs the local disk, in one run; and, in the same run, the cross-node consistency
rows (bench/consistency.py): how long a change made through one web node's mount takes to be seen
through the other's, whose caches were primed.

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

from consistency import measure_all  # noqa: E402
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
        vis = {name: measure_all(cluster.mount(vol, 1) / "vis", cluster.mount(vol, 2) / "vis", rounds=3, limit=10)
               for name, vol in (("cargohold", "prof"), ("defaults", "dflt"))}
    finally:
        cluster.down()
    ops = list(results["local"])
    print(f"{'ops/s':>16} " + " ".join(f"{k:>12}" for k in ("local", "cargohold", "defaults", "ours/dflt",
                                                              "ours/local")))
    for op in ops:
        row = [results[k][op] for k in ("local", "cargohold", "defaults")]
        print(f"{op:>16} " + " ".join(f"{v:12.0f}" for v in row)
              + f" {row[1] / row[2]:12.2f} {row[1] / row[0]:12.3f}")
    print("cross-node consistency, web1 changes, web2 (caches primed) sees it: max of 3, ms (10000 = never)")
    print(f"{'change':>32} {'cargohold':>10} {'defaults':>10}")
    for row in vis["cargohold"]:
        print(f"{row:>32} {max(vis['cargohold'][row]) * 1000:10.0f} {max(vis['defaults'][row]) * 1000:10.0f}")
    failing = [row for row, d in vis["cargohold"].items() if max(d) > 2.0]
    print("every consistency row within 2 s" if not failing else f"ROWS OVER 2 s: {failing}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "smallfile.json").write_text(json.dumps({"machine": platform.platform(), "files": args.files,
                                                    "ops_per_s": results, "visibility": vis}, indent=2))


if __name__ == "__main__":
    main()
