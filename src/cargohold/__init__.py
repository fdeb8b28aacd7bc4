"""cargohold: run web sites as containers with per-site storage, declaratively."""

__version__ = "0.1.0"
