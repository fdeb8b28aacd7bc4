"""The interface apply and status use to drive whatever runs the instances."""

from __future__ import annotations

from typing import Protocol

from cargohold.model import InstanceSpec, ObservedInstance


class Runtime(Protocol):
    def observe(self, fleet: str) -> tuple[ObservedInstance, ...]: ...

    def ensure_image(self, node: str, image: str) -> None: ...

    def start(self, fleet: str, spec: InstanceSpec, storage_root: str) -> str: ...

    def wait_healthy(self, node: str, container_id: str, deadline: float) -> None: ...

    def stop(self, instance: ObservedInstance) -> None: ...
