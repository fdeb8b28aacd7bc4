"""One exception hierarchy; the CLI maps it to exit codes and one clear line."""

from __future__ import annotations


class CargoholdError(Exception):
    """Base of every error cargohold reports to a user."""

    exit_code = 1


class FleetError(CargoholdError):
    """The fleet file (or a command's arguments) is wrong: bad input, nothing was changed."""

    exit_code = 2


class UsageError(CargoholdError):
    """A command was called with arguments that cannot work; nothing was changed."""

    exit_code = 2


class RuntimeFailure(CargoholdError):
    """Something outside cargohold (an engine, a container, a daemon) failed or is unreachable."""

    exit_code = 1


class StorageError(CargoholdError):
    """The storage root is missing, not the fleet's, or unsafe; nothing was started."""

    exit_code = 1


class ApplyFailed(CargoholdError):
    """apply ran but the world does not match the fleet file afterwards."""

    exit_code = 1
