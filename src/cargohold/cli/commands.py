"""Importing this module registers every command on the `cli` group."""

from cargohold.cli import backup, converge, deploy, dev, init, lab, node, site, status, storage  # noqa: F401
