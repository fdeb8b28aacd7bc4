"""deploy: the CI entry point."""

from __future__ import annotations

from pathlib import Path

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output


@cli.command("deploy")
@click.argument("domain")
@click.argument("image")
@pass_context
def deploy_command(ctx: Context, domain: str, image: str) -> None:
    """Roll IMAGE out to DOMAIN: set it in the fleet file (comments and layout kept) and apply.

    Exits 0 only when the new version is healthy on every instance. If it is not, the previous
    image goes back into the file and is rolled out again, and deploy exits 1 with a one-line reason.
    """
    out = Output()
    from cargohold.apply import apply_plan
    from cargohold.backends import plan_fleet
    from cargohold.deploy import deploy
    from cargohold.fleet.load import load_fleet

    def converge() -> None:
        desired, backends, plan = plan_fleet(load_fleet(ctx.fleet_file))  # the file as deploy just wrote it
        try:
            apply_plan(plan, desired, backends, report=out.progress)
        finally:
            backends.close()

    edit = deploy(Path(ctx.fleet_file), domain, image, converge)
    out.line(f"deployed {image} to {domain} (was {edit.old_image}): healthy on every instance")
