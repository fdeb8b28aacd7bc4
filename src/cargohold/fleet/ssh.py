"""How cargohold reaches a node or a storage server over SSH, from the fleet file. Pure."""

from __future__ import annotations

from cargohold.fleet.schema import Fleet
from cargohold.model import SSHAccess


def ssh_access(fleet: Fleet, target: str | None) -> SSHAccess | None:
    """A node's or server's `ssh` target with the fleet's known_hosts and key."""
    return None if target is None else SSHAccess(target, fleet.ssh.known_hosts, fleet.ssh.identity)
