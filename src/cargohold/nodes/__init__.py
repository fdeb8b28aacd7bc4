"""Executors: how cargohold runs a command on a node (this machine, or over SSH)."""
