"""The interface every storage backend offers to plan and apply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cargohold.model import DirSpec, ObservedDir, StorageState

# Written once by `storage init` at the root; apply refuses to start instances without it, so a
# missing mount never sends a site's uploads silently to an empty local directory.
MARKER_FILE = ".cargohold-fleet.json"
# Beside it: the areas cargohold created for each site; `site purge` deletes only those.
AREAS_FILE = ".cargohold-areas.json"


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int


class StorageBackend(Protocol):
    root: str

    def check_root(self, fleet: str) -> StorageState: ...

    def observe_dirs(self, dirs: Sequence[DirSpec]) -> tuple[ObservedDir, ...]: ...

    def ensure_dir(self, spec: DirSpec) -> None: ...

    def usage(self, relpath: str) -> Usage | None: ...

    def init_root(self, fleet: str, force: bool = False) -> str: ...

    def site_dirs(self, domain: str) -> list[str]: ...

    def purge(self, domain: str) -> list[str]: ...
