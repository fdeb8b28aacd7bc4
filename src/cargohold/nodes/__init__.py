"""Executors: how cargohold runs a command on a node (this machine, or over SSH)."""

from cargohold.nodes.base import CommandResult, Executor, executor_for
from cargohold.nodes.local import LocalExecutor

__all__ = ["CommandResult", "Executor", "LocalExecutor", "executor_for"]
