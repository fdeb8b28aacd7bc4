"""bench/frontdoor: throughput and latency straight to an instance vs through the front door
(HAProxy), in one run with wrk; and the time from `docker kill` of an instance to the front door
marking it DOWN.

The site runs one instance, so both paths end at the same process: the difference is the front
door's own cost. Targets: at most 10 % less throughput and at most 1 ms more p99 through the front
door; DOWN within 3 s of the kill (check_interval 1 s, fall 2).

Run: scripts/setup && .venv/bin/python bench/frontdoor.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import docker

from cargohold.apply import apply_plan
from cargohold.backends import connect, observe
from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.frontdoor.haproxy import HAProxy
from cargohold.lab import Lab
from cargohold.plan import plan
from cargohold.storage.tree import StorageTree
from cargohold.wait import wait_until

HOST = "www.example.com"
PORT, DOOR = 24010, 24000


def converge(fleet: Fleet) -> None:
    desired = desired_state(fleet)
    backends = connect(fleet)
    apply_plan(plan(desired, observe(desired, backends)), desired, backends)
    backends.close()


def wrk(url: str, seconds: int, host: bool) -> dict[str, float]:
    argv = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url] + (["-H", f"Host: {HOST}"] if host else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    lab = Lab(Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-fd")))
    lab.up(demo_versions=("1",))
    try:
        root = lab.home / "roots" / "fd"
        root.mkdir(parents=True, exist_ok=True)
        StorageTree(str(root)).init_root("fd")
        fleet = Fleet.model_validate({
            "fleet": "fd", "storage": {"backend": "local", "root": str(root), "mount": False},
            "nodes": [{"name": "web1", "engine": lab.engine.url, "state_dir": str(lab.home / "web1")}],
            "frontdoor": {"http": f"127.0.0.1:{DOOR}", "check_interval": 1},
            "sites": [{"domain": HOST, "image": "cargohold-demo:1", "port": PORT, "instances": 1,
                       "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo",
                       "health": {"http": "/healthz", "interval": 1}}],
        })
        converge(fleet)
        body = os.urandom(64 * 1024)
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{PORT}/upload/big.bin", data=body,
                                                      method="POST"), timeout=10).read()
        results = {}
        for name, path in (("dynamic page", "/"), ("64 KiB file", "/sites/default/files/big.bin")):
            direct = wrk(f"http://127.0.0.1:{PORT}{path}", args.seconds, host=False)
            door = wrk(f"http://127.0.0.1:{DOOR}{path}", args.seconds, host=True)
            results[name] = {"direct": direct, "frontdoor": door}
            print(f"{name:>13}: direct {direct['rps']:8.0f} req/s p50 {direct['p50_ms']:.2f} ms p99 "
                  f"{direct['p99_ms']:.2f} ms | front door {door['rps']:8.0f} req/s p50 {door['p50_ms']:.2f} ms "
                  f"p99 {door['p99_ms']:.2f} ms | throughput {door['rps'] / direct['rps']:.2f}x, p99 "
                  f"{door['p99_ms'] - direct['p99_ms']:+.2f} ms, non-2xx {door['non_2xx']}")

        client = docker.DockerClient(base_url=lab.engine.url, version="auto", timeout=60)
        door = HAProxy("web1", str(lab.home / "web1" / "frontdoor"))
        downs = []
        for _ in range(3):
            container = client.containers.get(f"fd_{HOST}_1")
            container.update(restart_policy={"Name": "no"})
            killed = time.monotonic()
            container.kill()
            wait_until(lambda: (door.server_state(HOST, "i1") or "").startswith("DOWN"), 30, "DOWN", interval=0.02)
            downs.append(time.monotonic() - killed)
            converge(fleet)
        client.close()
        print(f"docker kill -> DOWN in the front door: {', '.join(f'{d:.2f}' for d in downs)} s (target <= 3 s)")
        results["kill_to_down_s"] = downs  # type: ignore[assignment]
    finally:
        lab.down()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "frontdoor.json").write_text(json.dumps({"machine": platform.platform(), **results}, indent=2))


if __name__ == "__main__":
    main()
