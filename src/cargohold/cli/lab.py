"""lab up / down / status: the local lab the demo, tests and benchmarks run in."""

from __future__ import annotations

import click

from cargohold.cli.main import cli
from cargohold.cli.output import Output
from cargohold.lab import Lab, lab_dir


@cli.group("lab")
def lab_group() -> None:
    """A private Docker engine and storage root under $CARGOHOLD_LAB (default /dev/shm/cargohold-lab)."""


@lab_group.command("up")
def lab_up() -> None:
    """Start the lab engine (after cleaning up a crashed run) and build the demo images."""
    lab = Lab(lab_dir())
    out = Output()
    out.progress(f"starting the lab in {lab.home} (the first run builds a Debian image: ~1 min)")
    images = lab.up()
    out.line(f"lab up: engine {lab.engine.url}, storage {lab.storage_root}, images {', '.join(images)}")


@lab_group.command("down")
def lab_down() -> None:
    """Stop everything the lab started (by recorded pid) and remove the lab directory."""
    lab = Lab(lab_dir())
    lab.down()
    Output().line(f"lab down: removed {lab.home}")


@lab_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def lab_status(as_json: bool) -> int:
    """Is the lab engine running?"""
    lab = Lab(lab_dir())
    running = lab.engine.running()
    out = Output(as_json)
    if as_json:
        out.json({"lab": str(lab.home), "engine": lab.engine.url, "running": running})
    else:
        out.line(f"lab {lab.home}: engine {'running' if running else 'not running'} ({lab.engine.url})")
    return 0 if running else 1
