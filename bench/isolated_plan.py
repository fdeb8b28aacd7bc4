"""bench/isolated_plan: a no-op `cargohold plan` of the isolated lab's fleet (3 web nodes reached over
TLS and SSH, 3 storage servers over SSH, a front door on every node, 25 sites x 2 instances), as a
whole command, median of several runs (target <= 2 s), beside the bare tools asking the same
machines the least they can in the same run: `docker ps` over TLS on each web node and `gluster
volume info` over ssh on one server, one process after another.

Run: scripts/setup && .venv/bin/python bench/isolated_plan.py [--sites 25] [--runs 7]
Uses its own lab ($CARGOHOLD_BENCH_LAB, default /dev/shm/cargohold-bench-iso) and removes it.
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


def median_run(argvs: list[list[str]], runs: int) -> float:
    """The median, over `runs`, of running every argv one after another (each must exit 0)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for argv in argvs:
            result = subprocess.run(argv, capture_output=True, timeout=120)
            assert result.returncode == 0, (argv, result.returncode, result.stdout[-300:], result.stderr[-500:])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=25)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    result: dict[str, object] = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"}
    lab = Lab(Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-iso")), net=8)
    lab._claim()
    try:
        start = time.perf_counter()
        lab.isolated.up(3, ("1",), storage=3)
        result["lab_up_s"] = round(time.perf_counter() - start, 1)
        iso = lab.isolated
        data = iso.fleet(3, 3, "benchiso", iso.home / "admin" / "storage")
        # Checks sparse enough that 50 instances leave this 2-core machine idle between runs.
        data["frontdoor"] = {"http": "*:80", "check_interval": 10}
        data["sites"] = [{"domain": f"s{i}.example.com", "image": "cargohold-demo:1", "port": 30000 + 10 * i,
                          "instances": 2, "writable": {"/var/www/sites/default/files": "files"},
                          "logs": "/var/log/demo"} for i in range(args.sites)]
        fleet = lab.home / "fleet.yml"
        fleet.write_text(json.dumps(data))
        start = time.perf_counter()
        subprocess.run([CLI, "-f", str(fleet), "apply"], check=True, capture_output=True, timeout=1800)
        result["first_apply_s"] = round(time.perf_counter() - start, 1)
        check = subprocess.run([CLI, "-f", str(fleet), "plan", "--json"], capture_output=True, text=True, timeout=120)
        assert check.returncode == 0 and json.loads(check.stdout)["changes"] == 0, check.stdout + check.stderr
        plan = median_run([[CLI, "-f", str(fleet), "plan"]], args.runs)
        ca = iso.ca_dir
        tls = ["--tlsverify", f"--tlscacert={ca / 'ca.pem'}", f"--tlscert={ca / 'cert.pem'}",
               f"--tlskey={ca / 'key.pem'}"]
        ssh = ["ssh", "-o", f"UserKnownHostsFile={iso.known_hosts}", "-o", "StrictHostKeyChecking=yes",
               "-o", "BatchMode=yes", "-i", str(iso.client_key)]
        bare = [["docker", *tls, "-H", iso.node(i).engine_url, "ps", "-a", "--filter", "label=cargohold.fleet=benchiso"]
                for i in (1, 2, 3)]
        bare.append([*ssh, iso.server(1).ssh_target, "gluster", "--mode=script", "volume", "info", "web"])
        bare_s = median_run(bare, args.runs)
        result.update(sites=args.sites, instances=2 * args.sites, noop_plan_s=round(plan, 3),
                      bare_s=round(bare_s, 3), ratio=round(plan / bare_s, 2), target_s=2.0)
    finally:
        lab.down()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
