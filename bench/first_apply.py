"""bench/first_apply: a first `cargohold apply` of N sites (one instance each) from nothing, vs starting
the same N containers with parallel `docker run -d` (as many at a time as cargohold: one per core) on
the same lab engine, in the same run; rounds alternate which goes first.

Both sides: host networking, the same image, env and bind mounts; cargohold also creates each site's
directories, checks the storage guard before each start and waits until each container runs; the
bare side returns when `docker run -d` does.

Run: scripts/setup && .venv/bin/python bench/first_apply.py [--sites 250] [--rounds 2]
Uses its own lab ($CARGOHOLD_BENCH_LAB, default /dev/shm/cargohold-bench-apply) and removes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import docker

from cargohold.lab import Lab

CLI = str(Path(sys.executable).parent / "cargohold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    lab = Lab(Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-apply")), net=6)
    lab.up(demo_versions=("1",))
    client = docker.DockerClient(base_url=lab.engine.url, timeout=120)
    workers = os.cpu_count() or 1
    try:
        root = lab.home / "bench-root"
        fleet = lab.home / "bench-fleet.yml"
        fleet.write_text(json.dumps({
            "fleet": "firstapply",
            "storage": {"backend": "local", "root": str(root), "mount": False},
            "nodes": [{"name": "web1", "engine": lab.engine.url}],
            "sites": [{"domain": f"s{i}.example.com", "image": "cargohold-demo:1", "port": 31000 + i,
                       "instances": 1, "writable": {"/var/www/sites/default/files": "files"},
                       "logs": "/var/log/demo"} for i in range(args.sites)],
        }))
        bare_root = lab.home / "bare-root"
        for i in range(args.sites):
            for area in ("files", "logs"):
                (bare_root / area / f"s{i}.example.com").mkdir(parents=True, exist_ok=True)
        lines = "".join(
            f"--name bare-{i} --label bench=bare --network host --user 33:33 -e PORT={32000 + i} "
            f"-e CARGOHOLD_SITE=s{i}.example.com -e CARGOHOLD_INSTANCE=1 "
            f"--mount type=bind,source={bare_root}/files/s{i}.example.com,target=/var/www/sites/default/files "
            f"--mount type=bind,source={bare_root}/logs/s{i}.example.com,target=/var/log/demo "
            "cargohold-demo:1\n" for i in range(args.sites))

        def clean() -> None:
            for c in client.containers.list(all=True, filters={"label": "bench=bare"}):
                c.remove(force=True)
            for c in client.containers.list(all=True, filters={"label": "cargohold.fleet=firstapply"}):
                c.remove(force=True)
            subprocess.run(["rm", "-rf", str(root)], check=True)

        def bare() -> float:
            start = time.perf_counter()
            subprocess.run(["xargs", "-P", str(workers), "-L", "1", "docker", "-H", lab.engine.url, "run", "-d"],
                           input=lines, text=True, check=True, stdout=subprocess.DEVNULL, timeout=1800)
            return time.perf_counter() - start

        def cargohold() -> float:
            root.mkdir()
            subprocess.run([CLI, "-f", str(fleet), "storage", "init"], check=True, capture_output=True)
            start = time.perf_counter()
            subprocess.run([CLI, "-f", str(fleet), "apply"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=1800)
            return time.perf_counter() - start

        times: dict[str, list[float]] = {"bare": [], "cargohold": []}
        for rnd in range(args.rounds):
            for side in (("bare", "cargohold") if rnd % 2 == 0 else ("cargohold", "bare")):
                clean()
                times[side].append(bare() if side == "bare" else cargohold())
                print(side, round(times[side][-1], 2), flush=True)
        clean()
        result = {
            "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}",
            "sites": args.sites, "workers_per_node": workers,
            "bare_docker_run_s": [round(t, 2) for t in times["bare"]],
            "cargohold_apply_s": [round(t, 2) for t in times["cargohold"]],
            "ratio_median": round(statistics.median(times["cargohold"]) / statistics.median(times["bare"]), 3),
        }
        print(json.dumps(result, indent=2))
    finally:
        client.close()
        lab.down()


if __name__ == "__main__":
    main()
