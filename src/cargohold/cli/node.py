"""node drain / undrain: maintenance of a web node without downtime (runtime swarm)."""

from __future__ import annotations

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output


@cli.group("node")
def node_group() -> None:
    """Maintenance of one web node."""


@node_group.command("drain")
@click.argument("node")
@pass_context
def drain(ctx: Context, node: str) -> None:
    """Move NODE's instances to other nodes with no failed request, for maintenance.

    The front doors stop sending NODE new requests and wait for the ones in flight; then Swarm
    moves the instances; the command returns when they run elsewhere.
    """
    fleet = ctx.fleet()
    backends = ctx.backends()
    from cargohold.maintenance import drain_node

    out = Output()
    try:
        placed = drain_node(fleet, backends, node, out.progress)
    finally:
        backends.close()
    out.line(f"drained {node}; instances now: {', '.join(placed) or 'none'}")


@node_group.command("undrain")
@click.argument("node")
@pass_context
def undrain(ctx: Context, node: str) -> None:
    """Let NODE take instances again after maintenance."""
    fleet = ctx.fleet()
    backends = ctx.backends()
    from cargohold.maintenance import undrain_node

    try:
        undrain_node(fleet, backends, node, Output().progress)
    finally:
        backends.close()
    Output().line(f"{node} takes instances again")
