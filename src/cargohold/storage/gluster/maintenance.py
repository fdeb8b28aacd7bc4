"""Maintenance of a GlusterFS volume: heal backlog, client connections, rolling restarts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from cargohold.errors import RuntimeFailure
from cargohold.storage.gluster.cluster import GlusterStorage
from cargohold.wait import Timeout, wait_until


def heal_counts(storage: GlusterStorage) -> dict[str, int]:
    _, cli = storage.cli()
    return cli.heal_count(storage.spec.volume)


def trigger_heal(storage: GlusterStorage) -> None:
    """Ask the self-heal daemons to crawl now (advisory: a failure here changes nothing)."""
    with contextlib.suppress(RuntimeFailure):
        _, cli = storage.cli()
        cli.call("volume", "heal", storage.spec.volume)


def wait_settled(storage: GlusterStorage, timeout: float) -> None:
    """Heal backlog zero and every mount connected to every brick."""

    def settled() -> bool:
        try:
            pending = sum(heal_counts(storage).values())
        except RuntimeFailure:
            return False
        if pending:
            trigger_heal(storage)
            return False
        return not storage.clients_connected()

    try:
        wait_until(settled, timeout, "heal backlog zero and every client connected", interval=1)
    except Timeout as exc:
        raise RuntimeFailure(str(exc)) from None


def rolling_restart(storage: GlusterStorage, report: Callable[[str], None], settle_timeout: float = 600) -> None:
    """Restart every brick process, one server at a time, never taking the next one down before
    the volume has healed and every client is connected again."""
    _, cli = storage.cli()
    volume = storage.spec.volume
    for server, server_cli in storage.servers:
        report(f"{server.name}: waiting for heal = 0 and all clients connected")
        wait_settled(storage, settle_timeout)
        brick = f"{server.address}:{server.brick}"
        status = next((b for b in cli.volume_status(volume) if b.name == brick), None)
        if status is None or not status.online:
            raise RuntimeFailure(f"{brick} is not online; fix that first (apply restarts offline bricks)")
        report(f"{server.name}: stopping brick process {status.pid}")
        result = server_cli.executor.run(["kill", str(status.pid)], 10)
        if not result.ok:
            raise RuntimeFailure(f"{server.name}: kill {status.pid}: {result.brief()}")

        def offline(name: str = brick) -> bool:
            return not any(s.name == name and s.online for s in cli.volume_status(volume))

        try:
            wait_until(offline, 60, f"{brick} to go offline", interval=0.5)
        except Timeout as exc:
            raise RuntimeFailure(str(exc)) from None
        report(f"{server.name}: starting it again")
        storage.start_bricks(cli)
    report("all bricks restarted; waiting for the last heal")
    wait_settled(storage, settle_timeout)
