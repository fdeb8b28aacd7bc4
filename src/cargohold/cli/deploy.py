"""deploy and scale: the CI entry point, and a site's instance count."""

from __future__ import annotations

from pathlib import Path

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output


@cli.command("deploy")
@click.argument("domain")
@click.argument("image", required=False)
@click.option("--build", "build_dir", type=click.Path(file_okay=False), default=None,
              help="Build the image from this directory's Dockerfile first (pushed when it names a registry).")
@click.option("--tag", default=None, help="With --build: the tag (default: the directory's git commit).")
@pass_context
def deploy_command(ctx: Context, domain: str, image: str | None, build_dir: str | None, tag: str | None) -> None:
    """Roll IMAGE out to DOMAIN: set it in the fleet file (comments and layout kept) and apply.

    With --build DIR instead of IMAGE: build the site's image from DIR (as `cargohold build`), push
    it when the site's image names a registry, then roll it out: the one line a CI job needs.
    Exits 0 only when the new version is healthy on every instance. If it is not, the previous
    image goes back into the file and is rolled out again, and deploy exits 1 with a one-line reason.
    """
    from cargohold.errors import UsageError

    if (image is None) == (build_dir is None):
        raise UsageError("give IMAGE or --build DIR (not both)")
    if tag is not None and build_dir is None:
        raise UsageError("--tag goes with --build")
    out = Output()
    if build_dir is not None:
        from cargohold.build import build_site, names_registry

        fleet = ctx.fleet()
        site = next((s for s in fleet.sites if s.domain == domain), None)
        if site is None:
            raise UsageError(f"{domain} is not a site of the fleet file")
        backends = ctx.backends()
        try:
            image = build_site(fleet, backends, domain, build_dir, tag, names_registry(site.image), None,
                               out.progress)
        finally:
            backends.close()
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

    assert image is not None
    edit = deploy(Path(ctx.fleet_file), domain, image, converge)
    out.line(f"deployed {image} to {domain} (was {edit.old_value}): healthy on every instance")


@cli.command("scale")
@click.argument("domain")
@click.argument("count", type=int)
@pass_context
def scale_command(ctx: Context, domain: str, count: int) -> None:
    """Run DOMAIN on COUNT instances: set `instances` in the fleet file (comments and layout kept) and apply.

    At least 2. On swarm at most one instance per eligible node (host networking: the site's port
    once per node), as the fleet file itself requires; with the docker runtime instances are spread
    over the site's nodes as the file places them, each on its own port. Exits 0 only when COUNT
    instances run healthy; otherwise the previous count goes back into the file and is applied
    again, and scale exits 1 with a one-line reason.
    """
    from cargohold.apply import apply_plan
    from cargohold.backends import plan_fleet
    from cargohold.deploy import scale, serving
    from cargohold.errors import RuntimeFailure
    from cargohold.fleet.load import load_fleet

    out = Output()

    def converge() -> None:
        fleet = load_fleet(ctx.fleet_file)
        desired, backends, plan = plan_fleet(fleet)
        try:
            observed = apply_plan(plan, desired, backends, report=out.progress)
            want = next(s.instances for s in fleet.sites if s.domain == domain)
            healthy = serving(observed, domain)
            if healthy != want:
                raise RuntimeFailure(f"{domain}: {healthy} of {want} instances run healthy after apply")
        finally:
            backends.close()

    edit = scale(Path(ctx.fleet_file), domain, count, converge)
    out.line(f"{domain}: {count} instances (was {edit.old_value}), every one healthy")
