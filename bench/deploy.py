"""bench/deploy: cargohold on Swarm vs the equivalent hand-written `docker service` commands, in the
same run on the same 3-engine swarm lab (each engine a host of its own, GlusterFS storage, registry).

(a) Converge 10 sites x 2 instances from nothing on the lab's "2-node" shape (sites placed on web1
    and web2 by a label): `cargohold apply` vs `mkdir`/`chown` of each site's directories plus
    `docker service create` x 10 (same image, host network, bind mounts, health check, placement,
    at most one per node, same update policy), then waiting until every task runs.
(b) A rolling deploy of one site: `cargohold deploy` vs `docker service update --image` (same
    update policy; the CLI waits for the update to finish).
(c) A node's engine dies (SIGKILL of dockerd, containerd and its containers): time until every site
    is back at full instance count on the other nodes (sites that may run on all 3 nodes).
Target for (a) and (b): cargohold within 1.5x of the bare commands.

Run: scripts/setup && .venv/bin/python bench/deploy.py        # --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import docker

from cargohold.lab import Lab
from cargohold.wait import wait_until

SITES = 10
PORT = 23000
LAB = Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-deploy"))
NET = 5  # 127.1.5.N, 10.99.5.N: beside the demo's and the tests' labs
HEALTH = ["--health-interval", "1s", "--health-timeout", "2s", "--health-retries", "3"]


def cargohold(fleet: Path, *args: str) -> float:
    start = time.monotonic()
    command = str(Path(sys.executable).with_name("cargohold"))
    result = subprocess.run([command, "-f", str(fleet), *args], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"cargohold {' '.join(args)} failed: {result.stderr[-2000:]}")
    return time.monotonic() - start


def docker_cli(lab: Lab, *args: str) -> str:
    result = subprocess.run(["docker", "-H", lab.swarm.engine(1).url, *args], capture_output=True, text=True,
                            timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def all_running(client: docker.DockerClient, prefix: str, want: int) -> bool:
    services = [s for s in client.services.list() if s.name.startswith(prefix)]
    if len(services) < SITES:
        return False
    for service in services:
        tasks = service.tasks(filters={"desired-state": "running"})
        if sum(1 for t in tasks if t["Status"]["State"] == "running") < want:
            return False
    return True


def fleet_data(lab: Lab, image: str, placement: bool) -> dict:
    data = json.loads(lab.swarm_fleet_yaml(3, 3).split("\n", 1)[1])
    data["fleet"] = "bench"
    for i, node in enumerate(data["nodes"], start=1):
        node.update(frontdoor_http=f"127.0.0.1:{23500 + i}", frontdoor_https=f"127.0.0.1:{23600 + i}",
                    labels={"pair": "ab"} if i <= 2 else {})
    data["frontdoor"].update(http="127.0.0.1:23500", https="127.0.0.1:23600")
    template = data["sites"][0]
    template["health"].update(interval=1)
    data["sites"] = [{**template, "domain": f"s{n}.example.com", "port": PORT + n, "aliases": [], "image": image,
                      **({"placement": {"pair": "ab"}} if placement else {})} for n in range(SITES)]
    return data


def bare_create(lab: Lab, client: docker.DockerClient, image: str, delay: float) -> float:
    """What an operator writes by hand for the same 10 sites."""
    mount_root = str(lab.swarm.node_home(1) / "storage").replace("/web1/", "/{{.Node.Hostname}}/")
    start = time.monotonic()
    for n in range(SITES):
        site = f"bare{n}.example.com"
        for area in ("files", "logs"):
            path = lab.swarm.node_home(1) / "storage" / area / site
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, 33, 33)
        docker_cli(
            lab, "service", "create", "--detach", "--name", f"bare_s{n}", "--replicas", "2",
            "--network", "host", "--replicas-max-per-node", "1", "--constraint", "node.labels.pair==ab",
            "--mount", f"type=bind,source={mount_root}/files/{site},target=/var/www/sites/default/files",
            "--mount", f"type=bind,source={mount_root}/logs/{site},target=/var/log/demo",
            "--env", f"PORT={PORT + 100 + n}", "--user", "33:33", "--init",
            "--health-cmd", f"python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:{PORT + 100 + n}"
            f"/healthz\", timeout=2)'", *HEALTH,
            "--update-parallelism", "1", "--update-delay", f"{delay}s", "--update-order", "stop-first",
            "--update-failure-action", "rollback", "--update-monitor", "5s", "--restart-delay", "1s", image)
    wait_until(lambda: all_running(client, "bare_", 2), 300, "the bare services", interval=0.2)
    return time.monotonic() - start


def remove_services(client: docker.DockerClient, prefix: str) -> None:
    for service in client.services.list():
        if service.name.startswith(prefix):
            service.remove()
    wait_until(lambda: not any(c for c in client.containers.list()), 120, "containers gone", interval=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab running (to look around)")
    args = parser.parse_args()
    if not shutil.which("docker"):
        raise SystemExit("the docker CLI is needed (scripts/setup installs docker.io)")
    lab = Lab(LAB, net=NET)
    lab.down()
    images = lab.up(storage=3, web=3, swarm=True, write_fleet=False)
    v1, v2 = images[0], images[1]
    fleet = LAB / "bench-fleet.yml"
    try:
        data = fleet_data(lab, v1, placement=True)
        sites = data["sites"]
        fleet.write_text(json.dumps({**data, "sites": []}))
        cargohold(fleet, "apply")  # the volume, mounts, labels and front doors: not part of (a)
        delay = data["frontdoor"]["check_interval"] * 3  # cargohold's default update delay (rise 2)
        managers = {i: docker.DockerClient(base_url=lab.swarm.engine(i).url, version="auto") for i in (1, 2, 3)}
        for i in (1, 2, 3):  # every node has both images: pulls are not what is measured
            for image in (v1, v2):
                managers[i].images.pull(image)
        client = managers[1]
        rows: dict[str, list[float]] = {"create_bare": [], "create_cargohold": [], "deploy_bare": [],
                                        "deploy_cargohold": []}
        for _ in range(args.rounds):
            rows["create_bare"].append(bare_create(lab, client, v1, delay))
            start = time.monotonic()
            docker_cli(lab, "service", "update", "--image", v2, "bare_s0")  # waits until converged
            rows["deploy_bare"].append(time.monotonic() - start)
            remove_services(client, "bare_")
            fleet.write_text(json.dumps({**data, "sites": sites}))
            rows["create_cargohold"].append(cargohold(fleet, "apply"))
            rows["deploy_cargohold"].append(cargohold(fleet, "deploy", "s0.example.com", v2))
            fleet.write_text(json.dumps({**data, "sites": []}))
            cargohold(fleet, "apply")
            remove_services(client, "bench_")

        # (c) node loss on the 3-node shape: sites may run anywhere, one node dies.
        fleet.write_text(json.dumps(fleet_data(lab, v1, placement=False)))
        cargohold(fleet, "apply")
        victim = 2
        killed = time.monotonic()
        lab.swarm.engine(victim).kill()

        def back() -> bool:
            down = {n.attrs["Description"]["Hostname"] for n in client.nodes.list()
                    if n.attrs["Status"]["State"] != "ready"}
            for service in client.services.list():
                tasks = service.tasks(filters={"desired-state": "running"})
                ids = {n.id: n.attrs["Description"]["Hostname"] for n in client.nodes.list()}
                if sum(1 for t in tasks if t["Status"]["State"] == "running"
                       and ids.get(t.get("NodeID", "")) not in down) < 2:
                    return False
            return bool(down)

        wait_until(back, 180, "every site back at 2 instances", interval=0.2)
        recovered = time.monotonic() - killed
        lab.swarm.engine(victim).start()
        for c in managers.values():
            c.close()
    finally:
        if not args.keep:
            lab.down()

    def med(key: str) -> float:
        return round(statistics.median(rows[key]), 2)

    result = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}",
        "sites": SITES, "rounds": args.rounds, "raw": {k: [round(v, 2) for v in vs] for k, vs in rows.items()},
        "create": {"cargohold_s": med("create_cargohold"), "bare_s": med("create_bare"),
                   "ratio": round(med("create_cargohold") / med("create_bare"), 2)},
        "deploy": {"cargohold_s": med("deploy_cargohold"), "bare_s": med("deploy_bare"),
                   "ratio": round(med("deploy_cargohold") / med("deploy_bare"), 2)},
        "node_loss_back_to_full_s": round(recovered, 1),
    }
    out = Path(__file__).parent / "results" / "deploy.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
