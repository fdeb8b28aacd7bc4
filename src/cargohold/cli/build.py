"""build: a site's image from a directory's Dockerfile, on a node's engine."""

from __future__ import annotations

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output


@cli.command("build")
@click.argument("domain")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--tag", default=None, help="The image tag (default: DIRECTORY's git commit, -dirty if changed).")
@click.option("--push", is_flag=True, help="Push it to the registry the site's image names.")
@click.option("--node", default=None, help="Build on this node's engine (default: each that needs it).")
@pass_context
def build_command(ctx: Context, domain: str, directory: str, tag: str | None, push: bool, node: str | None) -> None:
    """Build DOMAIN's image from DIRECTORY's Dockerfile (default .) through the Engine API, tagged with
    the registry and name of the site's image in the fleet file. Prints the new image reference;
    `cargohold deploy DOMAIN IMAGE` (or `deploy DOMAIN --build DIR`) rolls it out."""
    backends = ctx.backends()
    from cargohold.build import build_site

    out = Output()
    try:
        ref = build_site(ctx.fleet(), backends, domain, directory, tag, push, node, out.progress)
    finally:
        backends.close()
    out.line(ref)
