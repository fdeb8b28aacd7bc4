"""Storage backends: where each site's writable areas and logs live."""

from cargohold.storage.base import MARKER_FILE, StorageBackend
from cargohold.storage.local import LocalStorage

__all__ = ["MARKER_FILE", "LocalStorage", "StorageBackend"]
