"""The swarm lab: N Docker engines on this machine, each a test host of its own (network namespace,
address 10.99.<net>.N, host name webN, data root, exec root, socket, cgroup), joined into one swarm,
and a private registry (10.99.<net>.250:5000) on a host of its own that every engine pulls from.

Each node keeps its things apart under <lab>/swarm/webN: the engine in docker/, the node's
storage mount in storage/ (an engine's cleanup never touches a mount it does not own).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from cargohold.errors import RuntimeFailure
from cargohold.lab.engine import LabEngine
from cargohold.lab.images import ensure_demo_image
from cargohold.lab.netns import LabNetwork
from cargohold.lab.registry import LabRegistry
from cargohold.model import SwarmNodeSpec, SwarmSpec
from cargohold.runtime.engines import Engines
from cargohold.runtime.swarm import SwarmRuntime

REGISTRY_SUFFIX = 250
HEARTBEAT = 1.0  # seconds: a dead node shows Down in ~2 s instead of ~11 s


@dataclass(frozen=True)
class SwarmLab:
    home: Path  # <lab>/swarm
    network: LabNetwork

    def node_home(self, index: int) -> Path:
        return self.home / f"web{index}"

    def engine(self, index: int) -> LabEngine:
        return LabEngine(self.node_home(index) / "docker", netns=self.network.netns_path(f"web{index}"),
                         hostname=f"web{index}", insecure_registry=self.registry.address)

    def address(self, index: int) -> str:
        return self.network.address(index)

    @property
    def registry(self) -> LabRegistry:
        return LabRegistry(self.home / "registry", f"{self.network.address(REGISTRY_SUFFIX)}:5000",
                           netns=self.network.netns_path("registry"))

    def indexes(self) -> list[int]:
        return sorted(int(p.name[3:]) for p in self.home.glob("web[0-9]*")) if self.home.exists() else []

    def up(self, web: int) -> None:
        """Start (or restart what died of) the hosts, engines and registry, and join the swarm."""
        self.network.ensure_host("registry", REGISTRY_SUFFIX)
        self.registry.start()
        for i in range(1, web + 1):
            self.network.ensure_host(f"web{i}", i)
            self.node_home(i).mkdir(parents=True, exist_ok=True)
            self.engine(i).start()
        runtime = self.runtime(web)
        try:
            swarm = runtime.observe("lab")
            if not swarm.active:
                runtime.init()
                swarm = runtime.observe("lab")
            for name in swarm.not_joined:
                runtime.join(name)
        finally:
            runtime.close()

    def runtime(self, web: int) -> SwarmRuntime:
        spec = SwarmSpec(manager="web1", create=True, heartbeat=HEARTBEAT, storage_label="",
                         nodes=tuple(SwarmNodeSpec(f"web{i}", self.address(i), ()) for i in range(1, web + 1)))
        return SwarmRuntime(spec, Engines({f"web{i}": self.engine(i).url for i in range(1, web + 1)}))

    def push_demo_images(self, versions: tuple[str, ...]) -> list[str]:
        """Build the demo images on web1 and push them to the lab registry, as a CI job would."""
        client = docker.DockerClient(base_url=self.engine(1).url, version="auto", timeout=600)
        pushed = []
        try:
            for version in versions:
                local = ensure_demo_image(client, version)
                remote = f"{self.registry.address}/{local}"
                pushed.append(push_image(client, local, remote))
        finally:
            client.close()
        return pushed

    def down(self) -> None:
        """Stop the engines (their containers first), the registry, and remove the hosts; the
        directory goes with the lab's (after its storage mounts are gone, never before)."""
        for i in self.indexes():
            self.engine(i).stop()
        self.registry.stop()
        self.network.remove()


def push_image(client: docker.DockerClient, local: str, remote: str) -> str:
    """Tag `local` as `remote` (registry/name:tag) and push it; errors in the push stream count."""
    repo, _, tag = remote.rpartition(":")
    try:
        client.images.get(local).tag(repo, tag)
        for line in client.images.push(repo, tag=tag, stream=True, decode=True):
            if isinstance(line, dict) and line.get("error"):
                raise RuntimeFailure(f"pushing {remote} failed: {line['error']}")
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"pushing {remote} failed: {exc}") from None
    with contextlib.suppress(docker.errors.DockerException):
        client.api.inspect_distribution(remote)
        return remote
    raise RuntimeFailure(f"pushed {remote}, but the registry does not list it")
