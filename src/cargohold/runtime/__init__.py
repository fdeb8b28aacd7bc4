"""Runtimes: what runs a site's instances (one or more Docker engines; Swarm later)."""

from cargohold.runtime.base import Runtime
from cargohold.runtime.docker import DockerRuntime

__all__ = ["DockerRuntime", "Runtime"]
