"""Importing this module registers every command on the `cli` group."""

from cargohold.cli import converge, dev, lab, site, status, storage  # noqa: F401
