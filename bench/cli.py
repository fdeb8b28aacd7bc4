"""bench/cli: how fast the command answers, as whole processes (interpreter start included), medians of
several runs, against the issue's targets and the bare docker CLI in the same run:

- `cargohold --help` (target <= 0.15 s);
- a bad fleet file reported (target <= 0.25 s);
- a no-op `cargohold plan` of N applied sites on one engine (target <= 0.5 s for 250), beside
  `docker ps --filter label=...` listing the same containers.

Run: scripts/setup && .venv/bin/python bench/cli.py [--sites 250] [--runs 7]
Uses its own lab ($CARGOHOLD_BENCH_LAB, default /dev/shm/cargohold-bench-cli) and removes it.
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

from cargohold.lab import Lab

CLI = str(Path(sys.executable).parent / "cargohold")
BAD = Path(__file__).parents[1] / "tests" / "fleets" / "bad" / "23-port-overlap.yml"


def median_run(argv: list[str], runs: int, expect: int = 0, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, timeout=120, env=env)
        times.append(time.perf_counter() - start)
        assert result.returncode == expect, (argv, result.returncode, result.stderr[-500:])
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=250)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "T_ROOT": "/tmp/cargohold-bench-root", "T_ENGINE": "unix:///nonexistent.sock"}
    result: dict[str, object] = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"}
    result["help_s"] = round(median_run([CLI, "--help"], args.runs), 3)
    result["bad_fleet_s"] = round(median_run([CLI, "-f", str(BAD), "plan"], args.runs, expect=2, env=env), 3)
    lab = Lab(Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-cli")), net=7)
    lab.up(demo_versions=("1",))
    try:
        root = lab.home / "root"
        root.mkdir()
        fleet = lab.home / "fleet.yml"
        fleet.write_text(json.dumps({
            "fleet": "benchcli",
            "storage": {"backend": "local", "root": str(root), "mount": False},
            "nodes": [{"name": "web1", "engine": lab.engine.url}],
            "sites": [{"domain": f"s{i}.example.com", "image": "cargohold-demo:1", "port": 33000 + i,
                       "instances": 1, "writable": {"/var/www/sites/default/files": "files"},
                       "logs": "/var/log/demo"} for i in range(args.sites)],
        }))
        subprocess.run([CLI, "-f", str(fleet), "storage", "init"], check=True, capture_output=True)
        start = time.perf_counter()
        subprocess.run([CLI, "-f", str(fleet), "apply"], check=True, capture_output=True, timeout=1800)
        result["first_apply_s"] = round(time.perf_counter() - start, 1)
        plan = median_run([CLI, "-f", str(fleet), "plan"], args.runs)
        ps = median_run(["docker", "-H", lab.engine.url, "ps", "--filter", "label=cargohold.fleet=benchcli"], args.runs)
        result.update(sites=args.sites, noop_plan_s=round(plan, 3), docker_ps_s=round(ps, 3),
                      ratio_plan_to_ps=round(plan / ps, 2))
    finally:
        subprocess.run(["docker", "-H", lab.engine.url, "rm", "-f", *subprocess.run(
            ["docker", "-H", lab.engine.url, "ps", "-aq", "--filter", "label=cargohold.fleet=benchcli"],
            capture_output=True, text=True).stdout.split()], capture_output=True)
        lab.down()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
