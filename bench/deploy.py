"""bench/deploy: cargohold on Swarm vs the equivalent hand-written `docker service` commands, in the
same run on the isolated lab: 3 web nodes that share only the network with this machine (each its
own namespaces, sshd, a Docker engine reached only over TLS), 3 GlusterFS servers reached over SSH,
a registry host. The bare side talks to the same machines over the same endpoints: the docker CLI
over TLS to the swarm's manager, ssh (known hosts only) for the directories.

(a) Converge 10 sites x 2 instances from nothing on the "2-node" shape (sites placed on web1 and
    web2 by a label): `cargohold apply` vs `mkdir`/`chown` of each site's directories through a
    node's storage mount (one ssh command) plus `docker service create` x 10 (same image, host
    network, bind mounts, health check, placement, at most one per node, same update policy), then
    waiting until every task runs.
(b) A rolling deploy of one site: `cargohold deploy` vs `docker service update --image` (same
    update policy; the CLI waits for the update to finish).
(c) A whole web node dies (SIGKILL of every process in its namespaces): time until every site is
    back at full instance count on the other nodes (sites that may run on all 3 nodes).
Targets: (a) within 1.5x of the bare commands, (b) within 1.4x.

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
from cargohold.lab.isolated import IsolatedLab
from cargohold.wait import wait_until

SITES = 10
PORT = 23000
LAB = Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-deploy"))
NET = 5  # 10.99.5.N: beside the demo's and the tests' labs
ROOT = "/srv/storage"  # the storage root on every node (the isolated fleet's)
HEALTH = ["--health-interval", "1s", "--health-timeout", "6s", "--health-retries", "3"]


def cargohold(fleet: Path, *args: str) -> float:
    start = time.monotonic()
    command = str(Path(sys.executable).with_name("cargohold"))
    result = subprocess.run([command, "-f", str(fleet), *args], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"cargohold {' '.join(args)} failed: {result.stderr[-2000:]}")
    return time.monotonic() - start


def docker_cli(iso: IsolatedLab, *args: str) -> str:
    """The docker CLI against the swarm's manager (web1) over TLS, as an operator runs it."""
    ca = iso.ca_dir
    tls = ["--tlsverify", f"--tlscacert={ca / 'ca.pem'}", f"--tlscert={ca / 'cert.pem'}", f"--tlskey={ca / 'key.pem'}"]
    result = subprocess.run(["docker", *tls, "-H", iso.node(1).engine_url, *args], capture_output=True, text=True,
                            timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def ssh(iso: IsolatedLab, index: int, command: str) -> None:
    argv = ["ssh", "-o", f"UserKnownHostsFile={iso.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-i", str(iso.client_key), iso.node(index).ssh_target, command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"ssh {command!r} failed: {result.stderr[-2000:]}")


def all_running(client: docker.DockerClient, prefix: str, want: int) -> bool:
    services = [s for s in client.services.list() if s.name.startswith(prefix)]
    if len(services) < SITES:
        return False
    for service in services:
        tasks = service.tasks(filters={"desired-state": "running"})
        if sum(1 for t in tasks if t["Status"]["State"] == "running") < want:
            return False
    return True


def fleet_data(iso: IsolatedLab, image: str, placement: bool) -> dict:
    data = iso.fleet(3, 3, "bench", iso.home / "admin" / "storage", swarm=True)
    for node in data["nodes"]:  # type: ignore[attr-defined]
        if node["name"] in ("web1", "web2"):
            node["labels"] = {"pair": "ab"}
    data["frontdoor"] = {"http": "*:8080", "check_interval": 1.0}  # the default
    data["sites"] = [{
        "domain": f"s{n}.example.com", "image": image, "port": PORT + n, "instances": 2, "app_root": "/var/www",
        "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo", "uid": 33, "gid": 33,
        "health": {"http": "/healthz", "interval": 1, "timeout": 6},
        **({"placement": {"pair": "ab"}} if placement else {})} for n in range(SITES)]
    return data


def bare_create(iso: IsolatedLab, client: docker.DockerClient, image: str, delay: float) -> float:
    """What an operator writes by hand for the same 10 sites, over the same endpoints."""
    start = time.monotonic()
    dirs = " ".join(f"{ROOT}/{area}/bare{n}.example.com" for n in range(SITES) for area in ("files", "logs"))
    ssh(iso, 1, f"mkdir -p {dirs} && chown 33:33 {dirs}")
    for n in range(SITES):
        site = f"bare{n}.example.com"
        docker_cli(
            iso, "service", "create", "--detach", "--name", f"bare_s{n}", "--replicas", "2",
            "--network", "host", "--replicas-max-per-node", "1", "--constraint", "node.labels.pair==ab",
            "--mount", f"type=bind,source={ROOT}/files/{site},target=/var/www/sites/default/files",
            "--mount", f"type=bind,source={ROOT}/logs/{site},target=/var/log/demo",
            "--env", f"PORT={PORT + 100 + n}", "--user", "33:33", "--init",
            "--health-cmd", f"python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:{PORT + 100 + n}"
            f"/healthz\", timeout=2)'", *HEALTH,
            "--update-parallelism", "1", "--update-delay", f"{delay}s", "--update-order", "stop-first",
            "--update-failure-action", "rollback", "--update-monitor", "5s", "--restart-delay", "1s", image)
    wait_until(lambda: all_running(client, "bare_", 2), 300, "the bare services", interval=0.2)
    return time.monotonic() - start


def remove_services(client: docker.DockerClient, prefix: str, engines: dict[int, docker.DockerClient]) -> None:
    for service in client.services.list():
        if service.name.startswith(prefix):
            service.remove()
    wait_until(lambda: not any(c.containers.list() for c in engines.values()), 120, "containers gone", interval=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab running (to look around)")
    args = parser.parse_args()
    if not shutil.which("docker"):
        raise SystemExit("the docker CLI is needed (scripts/setup installs docker.io)")
    lab = Lab(LAB, net=NET)
    lab.down()
    lab._claim()
    iso = lab.isolated
    fleet = LAB / "bench-fleet.yml"
    try:
        iso.up(3, ("1",), storage=3)
        v1, v2 = iso.push_demo_images(("1", "2"))
        data = fleet_data(iso, v1, placement=True)
        sites = data["sites"]
        fleet.write_text(json.dumps({**data, "sites": []}))
        cargohold(fleet, "apply")  # the swarm, volume, mounts, labels and front doors: not part of (a)
        delay = data["frontdoor"]["check_interval"] * 3  # cargohold's default update delay (rise 2)
        engines = {i: iso.node(i).engine.client(timeout=600) for i in (1, 2, 3)}
        for c in engines.values():  # every node has both images: pulls are not what is measured
            for image in (v1, v2):
                c.images.pull(image)
        client = engines[1]  # the manager
        rows: dict[str, list[float]] = {"create_bare": [], "create_cargohold": [], "deploy_bare": [],
                                        "deploy_cargohold": []}
        for _ in range(args.rounds):
            rows["create_bare"].append(bare_create(iso, client, v1, delay))
            start = time.monotonic()
            docker_cli(iso, "service", "update", "--image", v2, "bare_s0")  # waits until converged
            rows["deploy_bare"].append(time.monotonic() - start)
            remove_services(client, "bare_", engines)
            fleet.write_text(json.dumps({**data, "sites": sites}))
            rows["create_cargohold"].append(cargohold(fleet, "apply"))
            rows["deploy_cargohold"].append(cargohold(fleet, "deploy", "s0.example.com", v2))
            fleet.write_text(json.dumps({**data, "sites": []}))
            cargohold(fleet, "apply")
            remove_services(client, "bench_", engines)

        # (c) a whole node dies on the 3-node shape: sites may run anywhere.
        fleet.write_text(json.dumps(fleet_data(iso, v1, placement=False)))
        cargohold(fleet, "apply")
        victim = 2
        engines.pop(victim).close()
        killed = time.monotonic()
        iso.node(victim).kill()

        def back() -> bool:
            nodes = client.nodes.list()
            down = {n.id for n in nodes if n.attrs["Status"]["State"] != "ready"}
            for service in client.services.list():
                tasks = service.tasks(filters={"desired-state": "running"})
                if sum(1 for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID") not in down) < 2:
                    return False
            return bool(down)

        wait_until(back, 180, "every site back at 2 instances", interval=0.2)
        recovered = time.monotonic() - killed
        for c in engines.values():
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
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "deploy.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
