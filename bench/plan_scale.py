"""bench/plan_scale: how a no-op plan scales with the number of sites, against the bare docker CLI.

(a) For fleets of 25 and 250 applied sites (one small instance each) on the lab engine: a no-op
    plan (observe engine + storage, then diff) vs `docker ps --filter label=cargohold.fleet=…`
    listing the same containers, timed in the same run; the ratio and the growth per site.
(b) The pure diff alone for 10,000 sites (no I/O).

Run: scripts/setup && .venv/bin/python bench/plan_scale.py [--sizes 25,250] [--repeat 7]
Uses its own lab ($CARGOHOLD_BENCH_LAB, default /dev/shm/cargohold-bench-lab) and removes it.
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

from cargohold.apply import apply_plan
from cargohold.backends import connect, observe
from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.lab import Lab
from cargohold.model import Observed, ObservedDir, ObservedInstance, StorageState
from cargohold.plan import plan
from cargohold.storage.tree import StorageTree


def fleet_of(name: str, n: int, root: Path, engine: str) -> Fleet:
    return Fleet.model_validate({
        "fleet": name,
        "storage": {"backend": "local", "root": str(root), "mount": False},
        "nodes": [{"name": "web1", "engine": engine}],
        "sites": [
            {"domain": f"site{i}.example.com", "image": "cargohold-demo:1", "port": 30000 + i, "instances": 1,
             "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo"}
            for i in range(n)
        ],
    })


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_applied(lab: Lab, n: int, repeat: int) -> dict[str, float]:
    name = f"bench{n}"
    root = lab.home / "roots" / name
    root.mkdir(parents=True, exist_ok=True)
    StorageTree(str(root)).init_root(name)
    fleet = fleet_of(name, n, root, lab.engine.url)
    desired = desired_state(fleet)
    backends = connect(fleet)
    start = time.perf_counter()
    apply_plan(plan(desired, observe(desired, backends)), desired, backends)
    apply_seconds = time.perf_counter() - start

    def cargohold_plan() -> None:
        result = plan(desired, observe(desired, backends))
        assert result.empty, result.actions[:3]

    def docker_ps() -> None:
        out = subprocess.run(
            ["docker", "-H", lab.engine.url, "ps", "-a", "-q", "--filter", f"label=cargohold.fleet={name}"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout
        assert len(out.split()) == n

    cargohold_plan()  # warm the connection, as docker ps has no connection to warm
    ours = median_seconds(cargohold_plan, repeat)
    bare = median_seconds(docker_ps, repeat)
    # The whole command, as a user runs it (Python start-up and imports included).
    fleet_file = root / "fleet.json"  # JSON is YAML
    fleet_file.write_text(json.dumps(fleet.model_dump()))
    cargohold = str(Path(sys.executable).with_name("cargohold"))
    cli = median_seconds(lambda: subprocess.run([cargohold, "-f", str(fleet_file), "plan", "--json"],
                                                capture_output=True, check=True, timeout=120), 3)
    backends.close()
    client = docker.DockerClient(base_url=lab.engine.url, version="auto", timeout=120)
    for c in client.containers.list(all=True, filters={"label": f"cargohold.fleet={name}"}):
        c.remove(force=True)
    client.close()
    return {"sites": n, "apply_s": apply_seconds, "plan_s": ours, "docker_ps_s": bare, "ratio": ours / bare,
            "plan_ms_per_site": 1000 * ours / n, "cli_s": cli}


def bench_pure_diff(n: int, repeat: int) -> dict[str, float]:
    fleet = fleet_of("pure", n, Path("/srv/storage"), "unix:///run/x.sock")
    desired = desired_state(fleet)
    instances = tuple(
        ObservedInstance(spec.site, spec.slot, spec.node, f"id{spec.site}", spec.site, "running", "healthy",
                         spec.config_hash(), spec.config(), spec.port)
        for site in desired.sites for spec in site.instances
    )
    dirs = tuple(ObservedDir(d.relpath, True, d.uid, d.gid, d.mode) for s in desired.sites for d in s.dirs)
    observed = Observed(instances, dirs, StorageState("/srv/storage", True))
    assert plan(desired, observed).empty
    return {"sites": n, "diff_s": median_seconds(lambda: plan(desired, observed), repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25,250")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pure", type=int, default=10000)
    args = parser.parse_args()

    pure = bench_pure_diff(args.pure, args.repeat)
    print(f"(b) pure diff, {pure['sites']} sites: {pure['diff_s'] * 1000:.0f} ms (target < 1000 ms)")

    lab = Lab(Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-lab")))
    lab.up(demo_versions=("1",))
    rows = []
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            row = bench_applied(lab, n, args.repeat)
            rows.append(row)
            print(
                f"(a) {n:>4} sites: no-op plan {row['plan_s'] * 1000:7.1f} ms,"
                f" docker ps {row['docker_ps_s'] * 1000:7.1f} ms, ratio {row['ratio']:.2f} (target <= 3),"
                f" {row['plan_ms_per_site']:.2f} ms/site; whole `cargohold plan` command {row['cli_s'] * 1000:.0f} ms;"
                f" initial apply {row['apply_s']:.1f} s"
            )
    finally:
        lab.down()
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        growth = (large["plan_s"] / small["plan_s"]) / (large["sites"] / small["sites"])
        print(f"growth: {large['sites'] / small['sites']:.0f}x sites -> {large['plan_s'] / small['plan_s']:.1f}x time "
              f"(1.0 = linear per site: {growth:.2f})")
    result = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}", "pure": pure,
              "applied": rows, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "plan_scale.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
