"""lab up / down / status: the local lab the demo, tests and benchmarks run in."""

from __future__ import annotations

import click

from cargohold.cli.main import cli
from cargohold.cli.output import Output
from cargohold.lab import Lab


@cli.group("lab")
def lab_group() -> None:
    """A private Docker engine and storage root under $CARGOHOLD_LAB (default /dev/shm/cargohold-lab)."""


@lab_group.command("up")
@click.option("--storage", type=click.IntRange(0, 9), default=0, show_default=True,
              help="GlusterFS storage nodes (glusterd on 127.1.1.N); 3 gives replica 3 with an arbiter.")
@click.option("--web", type=click.IntRange(1, 9), default=2, show_default=True,
              help="Web nodes, each with its own mount of the volume (with --storage).")
@click.option("--swarm", is_flag=True,
              help="Web nodes are Docker engines of their own (one network namespace each) in one swarm, "
                   "with a registry; the fleet file uses runtime swarm.")
@click.option("--isolated", is_flag=True,
              help="Web nodes and storage servers are machines of their own as far as cargohold can tell "
                   "(network, mount and UTS namespaces; sshd; engines only over TLS); the fleet file names "
                   "them as a production fleet does (docs/production.md).")
def lab_up(storage: int, web: int, swarm: bool, isolated: bool) -> None:
    """Start the lab (after cleaning up a crashed run) and build the demo images.

    With --storage N it also starts N glusterd and writes $CARGOHOLD_LAB/fleet.yml, a fleet whose
    web nodes mount one replicated volume; `cargohold -f $CARGOHOLD_LAB/fleet.yml apply` creates it.
    Running `lab up` again restarts whatever of the lab has died.
    """
    lab = Lab.from_env()
    out = Output()
    if isolated and storage < 2:
        raise click.UsageError("--isolated needs --storage 2 or 3 (a replicated volume on servers of their own)")
    out.progress(f"starting the lab in {lab.home} (the first run builds a Debian image: ~1 min)")
    if isolated:
        images = lab.up_isolated(storage=storage, web=web, swarm=swarm)
        hosts = lab.isolated.hosts()
        out.line(f"isolated lab: {', '.join(f'{h.name} {h.address}' for h in hosts)}; images {', '.join(images)}; "
                 f"fleet file {lab.fleet_file}")
        return
    images = lab.up(storage=storage, web=web, swarm=swarm)
    out.line(f"lab up: engine {lab.engine.url}, storage {lab.storage_root}, images {', '.join(images)}")
    if swarm:
        out.line(f"swarm: {web} engines on {', '.join(lab.swarm.address(i) for i in range(1, web + 1))}, "
                 f"registry {lab.swarm.registry.address}")
    if storage:
        out.line(f"glusterd on {', '.join(g.address for g in lab.glusterds())}; fleet file {lab.fleet_file}")


@lab_group.command("down")
def lab_down() -> None:
    """Stop everything the lab started (by recorded pid) and remove the lab directory."""
    lab = Lab.from_env()
    lab.down()
    Output().line(f"lab down: removed {lab.home}")


@lab_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def lab_status(as_json: bool) -> int:
    """Are the lab's engines running (the main one, or each swarm node's)?"""
    lab = Lab.from_env()
    engines = {"main": lab.engine} if not lab.swarm.indexes() else {}
    engines.update({f"web{i}": lab.swarm.engine(i) for i in lab.swarm.indexes()})
    running = {name: engine.running() for name, engine in engines.items()}
    out = Output(as_json)
    if as_json:
        out.json({"lab": str(lab.home), "engines": {name: {"url": engine.url, "running": running[name]}
                                                     for name, engine in engines.items()}})
    else:
        for name, engine in engines.items():
            out.line(f"lab {lab.home}: {name} engine {'running' if running[name] else 'NOT running'} ({engine.url})")
    return 0 if running and all(running.values()) else 1
