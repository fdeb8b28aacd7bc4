"""Clients of the fleet's Docker engines, one per node, and the labels cargohold puts on what it
runs. Shared by the docker and swarm drivers."""

from __future__ import annotations

from collections.abc import Mapping

import docker
import docker.errors
import docker.tls

from cargohold.errors import RuntimeFailure
from cargohold.model import TLSFiles

TLS_API_VERSION = "1.41"  # Docker 20.10 (Debian 12); newer engines still speak it
LABEL_FLEET = "cargohold.fleet"
LABEL_SITE = "cargohold.site"
LABEL_SLOT = "cargohold.instance"
LABEL_NODE = "cargohold.node"
LABEL_HASH = "cargohold.config-hash"
LABEL_CONFIG = "cargohold.config"
API_TIMEOUT = 30  # seconds, for every Engine API call


def short(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:300]


class Engines:
    def __init__(self, engines: Mapping[str, str], timeout: int = API_TIMEOUT,
                 tls: Mapping[str, TLSFiles] | None = None) -> None:
        self.engines = dict(engines)  # node name -> endpoint URL
        self.tls = dict(tls or {})  # node name -> TLS files, for tcp:// endpoints
        self.timeout = timeout
        self._clients: dict[str, docker.DockerClient] = {}

    def new_client(self, node: str, timeout: float) -> docker.DockerClient:
        """A client for the node's engine; tcp:// only with TLS, the engine's certificate verified."""
        url = self.engines[node]
        if url.startswith("tcp://"):
            files = self.tls.get(node)
            if files is None:  # the fleet file's validation refuses this; a last line of defence
                raise RuntimeFailure(f"node {node}: {url} without TLS is an unauthenticated root API; refused")
            tls = docker.tls.TLSConfig(client_cert=(files.cert, files.key), ca_cert=files.ca, verify=True)
            # A fixed API version: "auto" asks the engine inside the constructor, before trust_env can
            # be turned off. trust_env off: requests lets $REQUESTS_CA_BUNDLE replace the session's CA
            # (psf/requests#3829), so the engine would be checked against the system's CAs, not ours.
            client = docker.DockerClient(base_url=url, version=TLS_API_VERSION, timeout=int(timeout) or 1, tls=tls)
            client.api.trust_env = False
            return client
        return docker.DockerClient(base_url=url, version="auto", timeout=int(timeout) or 1)

    def client(self, node: str) -> docker.DockerClient:
        if node not in self._clients:
            url = self.engines[node]
            try:
                self._clients[node] = self.new_client(node, self.timeout)
            except docker.errors.DockerException as exc:
                raise RuntimeFailure(f"node {node}: cannot reach the Docker engine at {url}: {short(exc)}") from None
        return self._clients[node]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
