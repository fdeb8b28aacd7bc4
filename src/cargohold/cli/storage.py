"""storage init: mark a storage root as this fleet's, once, on purpose."""

from __future__ import annotations

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output, milliseconds
from cargohold.errors import RuntimeFailure, UsageError
from cargohold.storage.canary import advice, check, node_mounts


@cli.group("storage")
def storage_group() -> None:
    """The fleet's storage root."""


@storage_group.command("init")
@click.option("--force", is_flag=True, help="Initialise a root that has files but no marker.")
@pass_context
def storage_init(ctx: Context, force: bool) -> None:
    """Write the fleet's marker at the storage root.

    apply refuses to start instances on a root without this marker, so that a missing mount never
    sends uploads to an empty local directory. apply never writes the marker itself.
    """
    fleet = ctx.fleet()
    message = ctx.backends().storage.init_root(fleet.fleet, force=force)
    Output().line(message)


@storage_group.command("restart")
@click.option("--rolling", is_flag=True, required=True, help="One server at a time (the only mode).")
@click.option("--settle-timeout", type=float, default=600, show_default=True,
              help="Seconds to wait for heal = 0 and all clients connected between servers.")
@pass_context
def storage_restart(ctx: Context, rolling: bool, settle_timeout: float) -> None:
    """Restart every brick of the GlusterFS volume, one server at a time.

    Before each server and at the end it waits until the heal backlog is zero and every web node's
    mount is connected to every brick, so at most one copy is ever being rebuilt.
    """
    out = Output()
    out.line(ctx.backends().storage.restart_rolling(out.progress, settle_timeout))


@storage_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--deadline", type=float, default=2.0, show_default=True,
              help="Seconds a node may take to read a change right.")
@pass_context
def storage_check(ctx: Context, as_json: bool, deadline: float) -> None:
    """Canary: write through one web node's mount, read through every other one.

    Writes a small file under the reserved name .cargohold-canary/ at the storage root through the
    first node's mount, rewrites it in place, and after each change reads it through every other
    node's mount. Reports per node how long it took to read the new bytes, or stale / wrong; exits 1
    on either. Removes its file; keeps the last result for `status`. Takes seconds: monitoring can
    run it every minute.
    """
    if deadline <= 0 or deadline > 60:
        raise UsageError("--deadline: between 0 and 60 seconds")
    mounts = node_mounts(ctx.desired().node_storage)
    result = check(mounts, deadline)
    out = Output()
    if as_json:
        out.json(result.to_json())
    else:
        out.table(f"Storage check: written through {result.writer}",
                  ["node", "state", "new file", "in-place rewrite", "detail"],
                  [[n.node, n.state, milliseconds(n.create_s), milliseconds(n.rewrite_s), n.detail or "-"]
                   for n in result.nodes])
    if not result.ok:
        what_to_do = advice(result)
        raise RuntimeFailure("storage check: " + "; ".join(result.problems())
                             + (f". {what_to_do}" if what_to_do else ""))
