"""Images from a registry: an engine without the image pulls it by its registry reference."""

from __future__ import annotations

import docker

from cargohold.lab import Lab
from cargohold.lab.registry import LabRegistry
from conftest import FleetFixture, demo_site
from http_helpers import get

DOMAIN = "www.example.com"


def test_an_image_named_with_a_registry_is_pulled_before_anything_stops(lab: Lab, fleet: FleetFixture):
    registry = LabRegistry(lab.home / "registry", "127.0.0.1:25000")
    registry.start()
    client = docker.DockerClient(base_url=lab.engine.url, version="auto", timeout=120)
    try:
        ref = "127.0.0.1:25000/demo-site:2"
        client.images.get("cargohold-demo:2").tag(ref)
        for line in client.images.push(ref, stream=True, decode=True):
            assert "error" not in line, line
        client.images.remove(ref)  # the engine no longer has it: apply must pull it
        fleet.write([demo_site(DOMAIN, 25010, image=ref)])
        fleet.cli("storage", "init")
        result = fleet.cli("apply")
        assert result.code == 0, result.err
        assert get("http://127.0.0.1:25010/")[2]["X-Version"] == "2"

        missing = fleet.cli("deploy", DOMAIN, "127.0.0.1:25000/demo-site:404")
        assert missing.code == 1 and "could not be pulled" in missing.err
        assert get("http://127.0.0.1:25011/healthz")[0] == 200  # nothing was stopped
    finally:
        client.close()
        registry.stop()
