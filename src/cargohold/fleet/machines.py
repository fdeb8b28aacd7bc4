"""How cargohold reaches the fleet's machines: engines over TLS, SSH, and its own storage mount."""

from __future__ import annotations

from cargohold.fleet.fields import AbsolutePath, Host, Model, StorageRoot


class EngineTLS(Model):
    """Files to reach a tcp:// Docker engine: the CA that signed the engine's certificate (verified),
    and this client's certificate and key (dockerd --tlsverify checks them)."""

    ca: AbsolutePath
    cert: AbsolutePath
    key: AbsolutePath


class SSHSettings(Model):
    """How every SSH connection of cargohold authenticates (nodes' and storage servers' `ssh`):
    host keys only from this known_hosts file (an unknown or changed key is refused), with this
    private key. Default: the user's ~/.ssh/known_hosts, the agent and ~/.ssh keys."""

    known_hosts: AbsolutePath | None = None
    identity: AbsolutePath | None = None


class AdminMount(Model):
    """Where the machine cargohold runs on mounts the volume itself, for the work that is the
    fleet's and no node's: site directories, `storage init`, backups, restores, purges. Needed
    when no web node is this machine (every node reached over SSH)."""

    root: StorageRoot
    # This machine's address as the storage servers see it (added to the volume's auth.allow).
    address: Host
    state_dir: AbsolutePath = "/var/lib/cargohold/admin"
