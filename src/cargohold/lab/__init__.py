"""The lab: everything the demo, tests and benchmarks start, under one directory ($CARGOHOLD_LAB).

`Lab.up()` starts a private Docker engine, initialises a local storage root and builds the demo
images; `Lab.down()` stops what it started (by recorded pid) and removes the directory.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import docker

from cargohold.errors import UsageError
from cargohold.lab.engine import LabEngine
from cargohold.lab.images import ensure_demo_image

DEFAULT_LAB = "/dev/shm/cargohold-lab"
LAB_FLEET = "lab"
_MARK = ".cargohold-lab"


def lab_dir() -> Path:
    return Path(os.environ.get("CARGOHOLD_LAB") or DEFAULT_LAB)


@dataclass(frozen=True)
class Lab:
    home: Path

    @property
    def engine(self) -> LabEngine:
        return LabEngine(self.home / "docker")

    @property
    def storage_root(self) -> Path:
        return self.home / "storage"

    def up(self, demo_versions: tuple[str, ...] = ("1", "2")) -> list[str]:
        self._claim()
        self.engine.start()
        self.storage_root.mkdir(exist_ok=True)
        client = docker.DockerClient(base_url=self.engine.url, version="auto", timeout=600)
        try:
            images = [ensure_demo_image(client, v) for v in demo_versions]
        finally:
            client.close()
        return images

    def down(self) -> None:
        if not self.home.exists():
            return
        if not (self.home / _MARK).exists():
            raise UsageError(f"{self.home} is not a cargohold lab (no {_MARK}); not removing it")
        self.engine.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def _claim(self) -> None:
        if self.home.exists() and any(self.home.iterdir()) and not (self.home / _MARK).exists():
            raise UsageError(f"{self.home} exists and is not a cargohold lab; choose another CARGOHOLD_LAB")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / _MARK).write_text("cargohold lab: `cargohold lab down` removes this directory\n")
