"""Clients of the fleet's Docker engines, one per node, and the labels cargohold puts on what it
runs. Shared by the docker and swarm drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import docker
import docker.errors
import docker.tls
import requests.exceptions

from cargohold.errors import RuntimeFailure
from cargohold.model import TLSFiles, line_time

TLS_API_VERSION = "1.41"  # Docker 20.10 (Debian 12); newer engines still speak it
LABEL_FLEET = "cargohold.fleet"
LABEL_SITE = "cargohold.site"
LABEL_SLOT = "cargohold.instance"
LABEL_NODE = "cargohold.node"
LABEL_HASH = "cargohold.config-hash"
LABEL_CONFIG = "cargohold.config"
API_TIMEOUT = 30  # seconds, for every Engine API call
# What a call to an engine raises when it fails: the SDK's errors, and requests' own when a tcp://
# engine cannot be reached at all (the SDK passes those through unwrapped).
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


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
            except ENGINE_ERRORS as exc:
                raise RuntimeFailure(f"node {node}: cannot reach the Docker engine at {url}: {short(exc)}") from None
        return self._clients[node]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class ContainerLog:
    """One container's stdout and stderr through its node's Engine API (a LogStream of the seam)."""

    def __init__(self, engines: Engines, node: str, instance: str, container_id: str) -> None:
        self.engines, self.node, self.instance, self.id = engines, node, instance, container_id

    def lines(self, since: float | None, follow: bool) -> Iterator[tuple[float, str]]:
        # A client of its own: a follow holds its connection for as long as it runs.
        client = self.engines.new_client(self.node, timeout=86400.0 if follow else float(self.engines.timeout))
        try:
            options: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True, "stream": True,
                                       "follow": follow}
            if since is not None:
                options["since"] = int(since)
            try:
                chunks = client.api.logs(self.id, **options)
            except docker.errors.NotFound:
                return
            except ENGINE_ERRORS as exc:
                raise RuntimeFailure(f"node {self.node}: logs of {self.id[:12]}: {short(exc)}") from None
            pending = b""
            for chunk in chunks:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    yield _stamped(raw.decode(errors="replace"))
            if pending:
                yield _stamped(pending.decode(errors="replace"))
        finally:
            client.close()


def _stamped(line: str) -> tuple[float, str]:
    """The engine's timestamp (--timestamps: RFC 3339 with nanoseconds, then a space) and the text."""
    stamp, _, text = line.partition(" ")
    return (line_time(stamp) or 0.0), text


def container_logs(engines: Engines, labels: list[str], slot_of: Callable[[Mapping[str, str]], str]
                   ) -> list[ContainerLog]:
    """The containers carrying all of `labels` on every node's engine (nodes sharing one engine: once)."""
    found, seen = [], set()
    for node, url in engines.engines.items():
        if url in seen:
            continue
        seen.add(url)
        try:
            rows = engines.client(node).api.containers(all=True, filters={"label": labels})
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"node {node}: listing containers failed: {short(exc)}") from None
        for row in rows:
            row_labels = row.get("Labels") or {}
            found.append(ContainerLog(engines, row_labels.get(LABEL_NODE, node), slot_of(row_labels), row["Id"]))
    return found


def build_image(engines: Engines, node: str, context: str, ref: str, progress: Callable[[str], None]) -> str:
    """Build `context`'s Dockerfile on the node's engine (the context streamed by the SDK), tagged
    `ref`; the image id. A failing step raises with the step and the engine's message."""
    client = engines.new_client(node, timeout=3600.0)
    step, image_id = "before the first step", ""
    try:
        try:
            stream = client.api.build(path=context, tag=ref, rm=True, forcerm=True, pull=False, decode=True)
            for chunk in stream:
                text = str(chunk.get("stream", "")).rstrip("\n")
                if text.startswith("Step "):
                    step = text
                if text.strip():
                    progress(f"{node}: {text.strip()}")
                if "error" in chunk:
                    message = str(chunk.get("error", "")).strip().replace("\n", " ")
                    raise RuntimeFailure(f"node {node}: build failed at {step}: {message}")
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"node {node}: build failed at {step}: {short(exc)}") from None
        if not image_id:
            image_id = str(client.api.inspect_image(ref)["Id"])
        return image_id
    finally:
        client.close()


def push_image(engines: Engines, node: str, repository: str, tag: str, progress: Callable[[str], None]) -> None:
    client = engines.new_client(node, timeout=3600.0)
    try:
        try:
            for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    message = str(chunk.get("error", "")).strip().replace("\n", " ")
                    raise RuntimeFailure(f"node {node}: push of {repository}:{tag} refused: {message}")
                if chunk.get("status") in ("Pushed", "Layer already exists") or "digest" in str(chunk.get("status")):
                    progress(f"{node}: {chunk.get('status')} {chunk.get('id', '')}".rstrip())
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"node {node}: push of {repository}:{tag} failed: {short(exc)}") from None
    finally:
        client.close()
