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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors
import docker.types

from cargohold.config_labels import label_config
from cargohold.errors import RuntimeFailure
from cargohold.fleet.fields import image_registry
from cargohold.model import InstanceSpec, ObservedInstance
from cargohold.runtime.engines import (
    ENGINE_ERRORS,
    LABEL_CONFIG,
    LABEL_FLEET,
    LABEL_HASH,
    LABEL_NODE,
    LABEL_SITE,
    LABEL_SLOT,
    Engines,
    short,
)
from cargohold.runtime.health import healthcheck_config

STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL


def container_name(fleet: str, site: str, slot: int) -> str:
    return f"{fleet}_{site}_{slot}"


def names_registry(image: str) -> bool:
    return image_registry(image) is not None


def _health_from_status(status: str) -> str:
    """The list API has no health field; its Status text ends in '(healthy)' and the like."""
    match = re.search(r"\((healthy|unhealthy|health: starting)\)", status)
    if not match:
        return "none"
    return "starting" if match.group(1) == "health: starting" else match.group(1)


class DockerRuntime:
    """The containers of a fleet on its nodes' engines: list, start, wait for health, stop."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines

    def client(self, node: str) -> docker.DockerClient:
        return self.engines.client(node)

    def close(self) -> None:
        self.engines.close()

    # -- observe ---------------------------------------------------------------------------

    def observe_reachable(self, fleet: str) -> tuple[tuple[ObservedInstance, ...], tuple[tuple[str, str], ...]]:
        """Every engine asked at once (nodes sharing an engine, the lab, are listed once); an engine
        that does not answer costs its timeout once and is reported, not raised."""
        first: dict[str, str] = {}
        for node, url in self.engines.engines.items():
            first.setdefault(url, node)

        def ask(node: str) -> list[ObservedInstance] | str:
            try:
                return self.observe_node(node, fleet)
            except RuntimeFailure as exc:
                return str(exc)

        with ThreadPoolExecutor(max_workers=max(1, len(first))) as pool:
            answers = dict(zip(first.values(), pool.map(ask, first.values()), strict=True))
        found = [inst for answer in answers.values() if not isinstance(answer, str) for inst in answer]
        unreachable = tuple((node, answer) for node, answer in answers.items() if isinstance(answer, str))
        return tuple(found), unreachable

    def observe_node(self, node: str, fleet: str, site: str | None = None) -> list[ObservedInstance]:
        labels = [f"{LABEL_FLEET}={fleet}"] + ([f"{LABEL_SITE}={site}"] if site else [])
        try:
            rows = self.client(node).api.containers(all=True, filters={"label": labels})
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"node {node}: listing containers failed: {short(exc)}") from None
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
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"node {node}: inspecting image {image} failed: {short(exc)}") from None
        if not names_registry(image):
            raise RuntimeFailure(
                f"node {node}: image {image} is not on the engine, and it names no registry to pull it from "
                "(cargohold never pulls from Docker Hub implicitly: build it there or use registry:port/name:tag)"
            )
        try:
            client.images.pull(image)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(
                f"node {node}: image {image} is not on the engine and could not be pulled: {short(exc)}"
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
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"{spec.target} on {spec.node}: starting failed: {short(exc)}") from None
        return str(container.id)

    def wait_healthy(self, node: str, container_id: str, deadline: float) -> None:
        """Poll until the container is healthy (or simply running, if it has no health check)."""
        client = self.client(node)
        end = time.monotonic() + deadline
        state: dict[str, Any] = {}
        while time.monotonic() < end:
            try:
                state = client.api.inspect_container(container_id)["State"]
            except ENGINE_ERRORS as exc:
                raise RuntimeFailure(f"node {node}: inspecting {container_id[:12]} failed: {short(exc)}") from None
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
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"{instance.target} on {instance.node}: stopping failed: {short(exc)}") from None

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
        except ENGINE_ERRORS:
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
