"""storage init: mark a storage root as this fleet's, once, on purpose."""

from __future__ import annotations

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output


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
