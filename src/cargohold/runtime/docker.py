"""The `docker` runtime: instances as containers on one or more Docker engines, via the Engine API.

Instances use host networking (the lab and production nodes route by port; there is no IPVS for
Swarm's mesh here) and listen on $PORT. Every container carries labels that let observe() rebuild
the whole picture from one list call per engine.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import docker
import docker.errors
import docker.tls
import docker.types

from cargohold.config_labels import label_config
from cargohold.errors import RuntimeFailure
from cargohold.fleet.fields import image_registry
from cargohold.model import HealthCheck, InstanceSpec, ObservedInstance, TLSFiles

TLS_API_VERSION = "1.41"  # Docker 20.10 (Debian 12); newer engines still speak it
LABEL_FLEET = "cargohold.fleet"
LABEL_SITE = "cargohold.site"
LABEL_SLOT = "cargohold.instance"
LABEL_NODE = "cargohold.node"
LABEL_HASH = "cargohold.config-hash"
LABEL_CONFIG = "cargohold.config"

API_TIMEOUT = 30  # seconds, for every Engine API call
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL
_NS = 1_000_000_000


def container_name(fleet: str, site: str, slot: int) -> str:
    return f"{fleet}_{site}_{slot}"


def health_test(check: HealthCheck, port: int) -> list[str]:
    """A Docker HEALTHCHECK test. HTTP checks use whichever client the image has."""
    if check.command is not None:
        return ["CMD-SHELL", check.command]
    url = f"http://127.0.0.1:{port}{check.http}"
    t = max(1, int(check.timeout))
    return [
        "CMD-SHELL",
        f"if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null --max-time {t} '{url}'; "
        f"elif command -v python3 >/dev/null 2>&1; then "
        f"python3 -c 'import urllib.request as u; u.urlopen(\"{url}\", timeout={t})'; "
        f"else wget -q -O /dev/null -T {t} '{url}'; fi",
    ]


def healthcheck_config(check: HealthCheck | None, port: int) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "test": health_test(check, port),
        "interval": int(check.interval * _NS),
        "timeout": int(check.timeout * _NS),
        "retries": check.retries,
        "start_period": int(check.start_period * _NS),
    }


def names_registry(image: str) -> bool:
    return image_registry(image) is not None


def _health_from_status(status: str) -> str:
    """The list API has no health field; its Status text ends in '(healthy)' and the like."""
    match = re.search(r"\((healthy|unhealthy|health: starting)\)", status)
    if not match:
        return "none"
    return "starting" if match.group(1) == "health: starting" else match.group(1)


class DockerRuntime:
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
                raise RuntimeFailure(f"node {node}: cannot reach the Docker engine at {url}: {_short(exc)}") from None
        return self._clients[node]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # -- observe ---------------------------------------------------------------------------

    def observe(self, fleet: str) -> tuple[ObservedInstance, ...]:
        found: list[ObservedInstance] = []
        seen_urls: set[str] = set()
        for node, url in self.engines.items():
            if url not in seen_urls:  # nodes sharing an engine (the lab) are listed once
                seen_urls.add(url)
                found.extend(self.observe_node(node, fleet))
        return tuple(found)

    def observe_node(self, node: str, fleet: str, site: str | None = None) -> list[ObservedInstance]:
        labels = [f"{LABEL_FLEET}={fleet}"] + ([f"{LABEL_SITE}={site}"] if site else [])
        try:
            rows = self.client(node).api.containers(all=True, filters={"label": labels})
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"node {node}: listing containers failed: {_short(exc)}") from None
        return [self._observed(node, row) for row in rows]

    @staticmethod
    def _observed(node: str, row: Mapping[str, Any]) -> ObservedInstance:
        labels = row.get("Labels") or {}
        try:
            config = json.loads(labels.get(LABEL_CONFIG, "{}"))
        except ValueError:
            config = {}
        port = config.get("port", 0) if isinstance(config, dict) else 0
        names = row.get("Names") or ["?"]
        return ObservedInstance(
            site=labels.get(LABEL_SITE, "?"),
            slot=int(labels.get(LABEL_SLOT, "0") or 0),
            node=labels.get(LABEL_NODE, node),
            container_id=row["Id"],
            name=names[0].lstrip("/"),
            state=row.get("State", "unknown"),
            health=_health_from_status(row.get("Status", "")),
            config_hash=labels.get(LABEL_HASH, ""),
            config=config if isinstance(config, dict) else {},
            port=int(port) if isinstance(port, int) else 0,
        )

    # -- act -------------------------------------------------------------------------------

    def ensure_image(self, node: str, image: str) -> None:
        client = self.client(node)
        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"node {node}: inspecting image {image} failed: {_short(exc)}") from None
        if not names_registry(image):
            raise RuntimeFailure(
                f"node {node}: image {image} is not on the engine, and it names no registry to pull it from "
                "(cargohold never pulls from Docker Hub implicitly: build it there or use registry:port/name:tag)"
            )
        try:
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(
                f"node {node}: image {image} is not on the engine and could not be pulled: {_short(exc)}"
            ) from None

    def start(self, fleet: str, spec: InstanceSpec, storage_root: str) -> str:
        client = self.client(spec.node)
        name = container_name(fleet, spec.site, spec.slot)
        self._remove_by_name(client, name)
        config = spec.config()
        mounts = [
            docker.types.Mount(target=m.target, source=f"{storage_root}/{m.source}", type="bind")
            for m in spec.mounts
        ]
        env = dict(spec.env)
        env.update(PORT=str(spec.port), CARGOHOLD_SITE=spec.site, CARGOHOLD_INSTANCE=str(spec.slot))
        try:
            container = client.containers.create(
                spec.image,
                name=name,
                detach=True,
                labels={
                    LABEL_FLEET: fleet,
                    LABEL_SITE: spec.site,
                    LABEL_SLOT: str(spec.slot),
                    LABEL_NODE: spec.node,
                    LABEL_HASH: spec.config_hash(),
                    LABEL_CONFIG: json.dumps(label_config(config), sort_keys=True),
                },
                environment=env,
                network_mode="host",
                user=spec.user,
                init=True,
                restart_policy={"Name": "unless-stopped"},
                mounts=mounts,
                healthcheck=healthcheck_config(spec.health, spec.port),
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
                stop_signal="SIGTERM",
            )
            container.start()
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"{spec.target} on {spec.node}: starting failed: {_short(exc)}") from None
        return str(container.id)

    def wait_healthy(self, node: str, container_id: str, deadline: float) -> None:
        """Poll until the container is healthy (or simply running, if it has no health check)."""
        client = self.client(node)
        end = time.monotonic() + deadline
        state: dict[str, Any] = {}
        while time.monotonic() < end:
            try:
                state = client.api.inspect_container(container_id)["State"]
            except docker.errors.DockerException as exc:
                raise RuntimeFailure(f"node {node}: inspecting {container_id[:12]} failed: {_short(exc)}") from None
            status = state.get("Status")
            health = (state.get("Health") or {}).get("Status")
            if status in ("exited", "dead", "restarting"):
                raise RuntimeFailure(
                    f"container {container_id[:12]} on {node} exited with code {state.get('ExitCode')}: "
                    f"{self._tail_logs(node, container_id)}"
                )
            if status == "running" and health in (None, "healthy"):
                return
            if health == "unhealthy":
                raise RuntimeFailure(
                    f"container {container_id[:12]} on {node} is unhealthy: {_last_probe(state)}"
                )
            time.sleep(0.2)
        raise RuntimeFailure(
            f"container {container_id[:12]} on {node} not healthy within {deadline:.0f}s "
            f"(state {state.get('Status')}, health {(state.get('Health') or {}).get('Status')}): "
            f"{_last_probe(state)}"
        )

    def stop(self, instance: ObservedInstance) -> None:
        client = self.client(instance.node)
        try:
            container = client.containers.get(instance.container_id)
            if container.status in ("running", "restarting"):
                container.stop(timeout=STOP_GRACE)
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"{instance.target} on {instance.node}: stopping failed: {_short(exc)}") from None

    def export_path(self, node: str, image: str, path: str) -> Iterable[bytes]:
        """A tar stream of `path` inside `image` (without running it): for `cargohold dev`."""
        client = self.client(node)
        self.ensure_image(node, image)
        container = client.containers.create(image, command=["true"])
        try:
            stream, _ = container.get_archive(path)
            yield from stream
        finally:
            container.remove(force=True)

    def _remove_by_name(self, client: docker.DockerClient, name: str) -> None:
        """A leftover container with our name (a crashed earlier apply) would block the create."""
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)

    def _tail_logs(self, node: str, container_id: str) -> str:
        try:
            raw = self.client(node).api.logs(container_id, tail=5)
        except docker.errors.DockerException:
            return "(no logs)"
        text = raw.decode(errors="replace").strip() if isinstance(raw, bytes) else str(raw)
        return " | ".join(text.splitlines()[-5:]) or "(no output)"


def _last_probe(state: Mapping[str, Any]) -> str:
    log = (state.get("Health") or {}).get("Log") or []
    if not log:
        return "no health probe has run yet"
    last = log[-1]
    # The last line says most (a traceback ends with the error, curl with its message).
    lines = [line.strip() for line in str(last.get("Output", "")).splitlines() if line.strip()]
    return f"last probe exit {last.get('ExitCode')}: {(lines[-1] if lines else '')[:200]}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:300]
