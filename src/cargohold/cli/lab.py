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
@click.option("--storage", type=click.IntRange(0, 9), default=None,
              help="GlusterFS storage servers; 3 gives replica 3 with an arbiter.  [default: 3 for an isolated lab "
                   "(--swarm, --isolated), else 0]")
@click.option("--web", type=click.IntRange(1, 9), default=None,
              help="Web nodes, each with its own mount of the volume (with --storage).  "
                   "[default: 3 with --swarm, else 2]")
@click.option("--swarm", is_flag=True,
              help="The web nodes form one swarm cargohold creates, with a registry on a host of its own; the "
                   "fleet file uses runtime swarm. Implies --isolated unless --shared.")
@click.option("--isolated", is_flag=True,
              help="Web nodes and storage servers are machines of their own as far as cargohold can tell "
                   "(network, mount and UTS namespaces; sshd; engines only over TLS); the fleet file names "
                   "them as a production fleet does (docs/production.md).")
@click.option("--shared", is_flag=True,
              help="The older lab: nodes are network namespaces that share this machine's filesystem and "
                   "mount table, engines on unix sockets, glusterd on 127.1.1.N (quicker; the storage tests' "
                   "lab). Not the product's shape.")
def lab_up(storage: int | None, web: int | None, swarm: bool, isolated: bool, shared: bool) -> None:
    """Start the lab (after cleaning up a crashed run) and build the demo images.

    `lab up --swarm` starts the isolated lab: 3 web nodes and 3 storage servers, each a machine of its
    own to cargohold, and writes $CARGOHOLD_LAB/fleet.yml naming them as a production fleet does;
    `cargohold -f $CARGOHOLD_LAB/fleet.yml apply` creates the swarm, volume, mounts and front doors.
    With --shared (or without --swarm/--isolated) the older lab on this machine's filesystem.
    Running `lab up` again restarts whatever of the lab has died.
    """
    if shared and isolated:
        raise click.UsageError("--shared and --isolated exclude each other")
    isolated = isolated or (swarm and not shared)
    storage = (3 if isolated else 0) if storage is None else storage
    web = (3 if swarm else 2) if web is None else web
    if isolated and storage < 2:
        raise click.UsageError("an isolated lab needs --storage 2 or 3 (a replicated volume on servers of their own)")
    lab = Lab.from_env()
    out = Output()
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
    """Are the lab's engines running (the main one, or each web node's)?"""
    lab = Lab.from_env()
    isolated = lab.isolated.indexes()
    engines = {"main": lab.engine} if not lab.swarm.indexes() and not isolated else {}
    engines.update({f"web{i}": lab.swarm.engine(i) for i in lab.swarm.indexes()})
    engines.update({f"web{i}": lab.isolated.node(i).engine for i in isolated})
    running = {name: engine.running() for name, engine in engines.items()}
    urls = {name: engine.tcp_url if engine.tls_only else engine.url for name, engine in engines.items()}
    out = Output(as_json)
    if as_json:
        out.json({"lab": str(lab.home), "engines": {name: {"url": urls[name], "running": running[name]}
                                                     for name in engines}})
    else:
        for name in engines:
            out.line(f"lab {lab.home}: {name} engine {'running' if running[name] else 'NOT running'} ({urls[name]})")
    return 0 if running and all(running.values()) else 1
