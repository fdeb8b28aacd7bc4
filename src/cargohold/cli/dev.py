"""dev: write a developer setup for one site."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output
from cargohold.dev import write_dev_setup
from cargohold.errors import UsageError


@cli.command("dev")
@click.argument("domain")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Where to write (default: ./DOMAIN).")
@click.option("--engine", help="Docker endpoint to export the app from (default: $DOCKER_HOST, else the first node).")
@click.option("--no-export", is_flag=True, help="Do not copy the app root out of the image into ./application.")
@click.option("--force", is_flag=True, help="Overwrite a compose file or Makefile that differs.")
@click.option("--env-values", is_flag=True,
              help="Copy the fleet's env values into site.env (default: names with placeholders).")
@pass_context
def dev_command(ctx: Context, domain: str, directory: str | None, engine: str | None, no_export: bool,
                force: bool, env_values: bool) -> None:
    """Write what a developer needs to run DOMAIN locally, as production runs it.

    A docker-compose.yml that mounts ./application at the app root and ./files, ./logs at the
    site's writable and log paths; a .gitignore for the data folders; a Makefile with start, stop,
    status, logs and shell. If ./application does not exist yet, it is copied out of the image.
    The site's env goes to site.env (mode 0600, git-ignored) as names with placeholders, or with
    the fleet's values given --env-values; an existing site.env is kept.
    """
    fleet = ctx.fleet()
    try:
        site = fleet.site(domain)
    except KeyError:
        raise UsageError(f"{domain} is not a site of the fleet file") from None
    target = Path(directory or domain)
    export = None
    if site.app_root and not no_export and not (target / "application").exists():
        url = engine or os.environ.get("DOCKER_HOST") or fleet.nodes[0].engine
        from cargohold.backends import export_app

        export = export_app(url, site.image, site.app_root)
    files = write_dev_setup(site, target, export, force=force, env_values=env_values)
    out = Output()
    out.line(f"wrote {', '.join(files.written) or 'nothing new'} in {files.directory}")
    if files.exported_app:
        out.line(f"copied {site.app_root} from {site.image} into {files.directory}/application")
    out.line(f"run it: cd {files.directory} && make start   (then http://127.0.0.1:{site.port}/)")
