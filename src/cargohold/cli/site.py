"""site purge: the only way cargohold deletes a site's data."""

from __future__ import annotations

import sys

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output
from cargohold.cli.status import human_bytes
from cargohold.errors import UsageError


@cli.group("site")
def site_group() -> None:
    """Commands for one site."""


@site_group.command("purge")
@click.argument("domain")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def purge(ctx: Context, domain: str, yes: bool) -> None:
    """Delete every storage directory of DOMAIN (uploads and logs). Cannot be undone.

    Only for a site that is no longer in the fleet file and has no containers left (remove it from
    the file and run apply first).
    """
    backends = ctx.backends()
    from cargohold import purge as purging

    try:
        candidate = purging.purge_candidate(ctx.fleet(), backends, domain)
        out = Output()
        if not candidate.dirs:
            out.line(f"{domain} has no directories on record under {candidate.root} (cargohold deletes only "
                     "the areas it created for a site); nothing to purge")
            return
        for rel, usage in candidate.dirs:
            out.line(f"  {candidate.root}/{rel}  {human_bytes(usage.bytes) if usage else '?'}, "
                     f"{usage.files if usage else '?'} files")
        _confirm(domain, yes)
        removed = purging.purge(backends, candidate)
    finally:
        backends.close()
    out.line(f"purged {domain}: removed {', '.join(removed)}")


def _confirm(domain: str, yes: bool) -> None:
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to delete data without confirmation: run in a terminal or pass --yes")
        answer = click.prompt(f"Type the domain ({domain}) to delete these directories for good")
        if answer.strip() != domain:
            raise UsageError("confirmation did not match; nothing was deleted")
