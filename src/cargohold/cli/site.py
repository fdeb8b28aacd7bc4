"""site purge: the only way cargohold deletes a site's data."""

from __future__ import annotations

import sys

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output
from cargohold.cli.status import human_bytes
from cargohold.errors import RuntimeFailure, UsageError
from cargohold.fleet.fields import check_domain


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
    try:
        check_domain(domain)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    fleet = ctx.fleet()
    if any(s.domain == domain for s in fleet.sites):
        raise UsageError(f"{domain} is still in the fleet file; remove it and run apply before purging its data")
    backends = ctx.backends()
    running = [i for i in backends.runtime.observe(fleet.fleet) if i.site == domain]
    if backends.swarm is not None and backends.swarm.observe(fleet.fleet).service(domain) is not None:
        raise UsageError(f"{domain} still has a Swarm service; run apply to remove it first")
    if running:
        raise UsageError(f"{domain} still has {len(running)} container(s); run apply to remove them first")
    root = backends.storage.check_root(fleet.fleet)
    if not root.ok:  # another fleet's root, or an unmounted one: not ours to delete from
        raise RuntimeFailure(f"storage root {root.root}: {root.reason}; nothing was deleted")
    dirs = backends.storage.site_dirs(domain)
    out = Output()
    if not dirs:
        out.line(f"{domain} has no directories on record under {backends.storage.root} (cargohold deletes only "
                 "the areas it created for a site); nothing to purge")
        return
    for rel in dirs:
        usage = backends.storage.usage(rel)
        out.line(f"  {backends.storage.root}/{rel}  {human_bytes(usage.bytes) if usage else '?'}, "
                 f"{usage.files if usage else '?'} files")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to delete data without confirmation: run in a terminal or pass --yes")
        answer = click.prompt(f"Type the domain ({domain}) to delete these directories for good")
        if answer.strip() != domain:
            raise UsageError("confirmation did not match; nothing was deleted")
    removed = backends.storage.purge(domain)
    out.line(f"purged {domain}: removed {', '.join(removed)}")
