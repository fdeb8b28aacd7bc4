"""Lab fixtures: one real dockerd per test session (started once, removed at the end)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from gluster_helpers import GlusterLab

import yaml_helpers
from cargohold.lab import Lab
from cargohold.lab.isolated import IsolatedLab
from cargohold.runtime.docker import LABEL_FLEET

TEST_LAB = Path(os.environ.get("CARGOHOLD_TEST_LAB", "/dev/shm/cargohold-test-lab"))


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def run_cli(*args: str) -> CliResult:
    """Run the cargohold command in-process, exactly as the console script does."""
    from cargohold.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["cargohold", *args]
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    lab = Lab(TEST_LAB, net=2)  # storage nodes on 127.1.2.N, beside a demo lab on 127.1.1.N
    try:
        lab.up()
    except Exception as exc:  # the lab is required: fail loudly with the reason, never skip
        pytest.fail(f"the test lab could not start in {TEST_LAB}: {exc}", pytrace=False)
    yield lab
    lab.down()


@pytest.fixture(scope="session")
def gluster(lab: Lab) -> Iterator[GlusterLab]:
    """The session lab plus 3 glusterd (replica 3 arbiter 1) and 2 web-node mounts, applied once."""
    try:
        lab.up(storage=3, web=2)
    except Exception as exc:
        pytest.fail(f"the GlusterFS lab could not start in {lab.home}: {exc}", pytrace=False)
    data = json.loads(lab.fleet_file.read_text().split("\n", 1)[1])
    data["sites"][0]["port"] = 22000
    data["sites"][0]["health"]["interval"] = 0.5
    # Front doors on ports of the tests' own, beside a demo lab's.
    data["frontdoor"]["http"], data["frontdoor"]["https"] = "127.0.0.1:22050", "127.0.0.1:22060"
    for i, node in enumerate(data["nodes"]):
        node["frontdoor_http"], node["frontdoor_https"] = f"127.0.0.1:{22050 + i}", f"127.0.0.1:{22060 + i}"
    fleet_file = lab.home / "gluster-fleet.yml"
    fleet_file.write_text(json.dumps(data))
    result = run_cli("-f", str(fleet_file), "apply")
    if result.code != 0:
        pytest.fail(f"apply of the GlusterFS lab failed: {result.err}", pytrace=False)
    yield GlusterLab(lab, fleet_file)


@pytest.fixture(scope="session")
def engine(lab: Lab) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=lab.engine.url, version="auto", timeout=60)
    yield client
    client.close()


@dataclass
class FleetFixture:
    """A fleet of its own for one test: its own name, storage root and fleet file."""

    name: str
    path: Path
    root: Path
    engine_url: str
    client: docker.DockerClient

    def write(self, sites: list[dict], **extra: object) -> Path:
        data = {
            "fleet": self.name,
            "storage": {"backend": "local", "root": str(self.root), "mount": False},  # a lab directory
            "nodes": [{"name": "web1", "engine": self.engine_url}],
            "sites": sites,
            **extra,
        }
        self.path.write_text(yaml_helpers.dump(data))
        return self.path

    def cli(self, *args: str) -> CliResult:
        return run_cli("-f", str(self.path), *args)

    def containers(self, site: str | None = None) -> list:
        labels = [f"{LABEL_FLEET}={self.name}"] + ([f"cargohold.site={site}"] if site else [])
        return self.client.containers.list(all=True, filters={"label": labels})


def demo_site(domain: str, port: int, image: str = "cargohold-demo:1", **extra: object) -> dict:
    site = {
        "domain": domain,
        "image": image,
        "port": port,
        "instances": 2,
        "app_root": "/var/www",
        "writable": {"/var/www/sites/default/files": "files"},
        "logs": "/var/log/demo",
        "uid": 33,
        "gid": 33,
        "health": {"http": "/healthz", "interval": 0.5, "timeout": 2, "retries": 3},
    }
    site.update(extra)
    return site


@pytest.fixture
def fleet(
    lab: Lab, engine: docker.DockerClient, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[FleetFixture]:
    name = "t" + str(abs(hash(request.node.nodeid)) % 10**8)
    root = lab.home / "roots" / name
    root.mkdir(parents=True)
    fx = FleetFixture(name, tmp_path / "cargohold.yml", root, lab.engine.url, engine)
    yield fx
    for container in fx.containers():
        container.remove(force=True)


@pytest.fixture(scope="module")
def isolated(lab: Lab) -> Iterator[IsolatedLab]:
    """Two web nodes and three storage servers that share only the network with cargohold
    (lab/isolated.py); every host stopped after the module (their disks and images kept for the
    next), so the other tests do not share this 2-core machine with them."""
    try:
        lab.isolated.up(2, ("1",), storage=3)
    except Exception as exc:
        pytest.fail(f"the isolated lab nodes could not start in {lab.home}: {exc}", pytrace=False)
    yield lab.isolated
    lab.isolated.down()
