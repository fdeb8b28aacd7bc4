"""init: a first fleet file, commented, that validates as written."""

from __future__ import annotations

import os

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output
from cargohold.errors import FleetError, UsageError
from cargohold.fleet.load import parse_fleet
from cargohold.fleet.template import fleet_template, parse_node


@cli.command("init")
@click.option("--fleet", "fleet_name", default="main", show_default=True, help="The fleet's name.")
@click.option("--domain", default="www.example.com", show_default=True, help="The first site's domain.")
@click.option("--image", default="registry.example.com:5000/www:1", show_default=True, help="Its image.")
@click.option("--port", type=int, default=8080, show_default=True, help="Its first instance's port.")
@click.option("--node", "nodes", multiple=True, metavar="NAME=ENGINE",
              help="A web node and its Docker endpoint (repeat; default web1=unix:///var/run/docker.sock).")
@click.option("--storage-root", default="/storage", show_default=True, help="Where every node mounts the storage.")
@click.option("--plain-dir", is_flag=True, help="The storage root is a plain directory, not a mount (one machine).")
@pass_context
def init_command(ctx: Context, fleet_name: str, domain: str, image: str, port: int, nodes: tuple[str, ...],
                 storage_root: str, plain_dir: bool) -> None:
    """Write a first fleet file (-f, default cargohold.yml): the storage root, the nodes, one site,
    and every key a user is likely to need, commented out. Never overwrites a file."""
    path = ctx.fleet_file
    try:
        parsed = [parse_node(n) for n in nodes] or [("web1", "unix:///var/run/docker.sock")]
        text = fleet_template(fleet_name, domain, image, parsed, storage_root, plain_dir, port)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        parse_fleet(text, path, {})
    except FleetError as exc:  # the template and the schema disagree: a bug, but never write a bad file
        raise UsageError(f"the generated file does not validate: {exc}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise UsageError(f"{path} exists already; cargohold init never overwrites a file") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    Output().line(f"wrote {path}: edit it, then `cargohold -f {path} plan`")
