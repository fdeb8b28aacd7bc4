"""The `cargohold` command: a thin layer that parses, calls the core, and renders.

It answers at once: a command's module is imported only when that command runs (LAZY below), and
the engine SDK, the drivers and the fleet schema only when a command needs them, after the fleet
file has been read (a bad file is reported without loading a driver).
"""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from cargohold import __version__
from cargohold.errors import CargoholdError

if TYPE_CHECKING:
    from cargohold.backends import Backends
    from cargohold.fleet import Fleet
    from cargohold.model import Desired

DEFAULT_FLEET_FILE = "cargohold.yml"

# command -> (module under cargohold.cli, its one-line help for `cargohold --help`)
LAZY: dict[str, tuple[str, str]] = {
    "plan": ("converge", "Show what apply would change, and why."),
    "apply": ("converge", "Converge the fleet to the fleet file: run the plan, then check that nothing differs."),
    "status": ("status", "Show sites, instances (node, address, health), storage use, and orphans."),
    "deploy": ("deploy", "Roll out a new image (or --build one) for one site: what CI calls."),
    "scale": ("deploy", "Run one site on N instances (at least 2): set in the fleet file, applied, healthy."),
    "build": ("build", "Build a site's image from a directory's Dockerfile on a node's engine."),
    "logs": ("logs", "A site's logs: instances, front-door access log, log area; merged by time."),
    "dev": ("dev", "Write a docker-compose setup that runs a site locally as production does."),
    "init": ("init", "Write a first fleet file, commented, that validates."),
    "lab": ("lab", "The local lab: engines, storage servers, front doors."),
    "node": ("node", "Maintenance of one web node."),
    "site": ("site", "Commands for one site."),
    "storage": ("storage", "The fleet's storage root."),
    "backup": ("backup", "Back up each site's storage areas with restic; the restore drill."),
    "backups": ("backup", "The snapshots of each site (or of DOMAIN): area, id, time, files and size."),
    "restore": ("backup", "Restore DOMAIN's areas from its snapshots."),
}


@dataclass
class Context:
    fleet_file: str
    debug: bool
    _fleet: Fleet | None = field(default=None)

    def fleet(self) -> Fleet:
        if self._fleet is None:
            from cargohold.fleet.load import load_fleet

            self._fleet = load_fleet(self.fleet_file)
        return self._fleet

    def desired(self) -> Desired:
        from cargohold.fleet.desired import desired_state

        return desired_state(self.fleet())

    def backends(self) -> Backends:
        fleet = self.fleet()
        from cargohold.backends import connect

        return connect(fleet)


pass_context = click.make_pass_decorator(Context)


def _file_after_command(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Context).fleet_file = value


class FleetCommand(click.Command):
    """Every command also takes -f/--file after its name (`cargohold plan -f x.yml`), as kubectl,
    Kamal and Terraform users type it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        taken = {opt for param in self.params for opt in getattr(param, "opts", [])}
        names = ["--file"] if "-f" in taken else ["-f", "--file"]  # `logs -f` follows, as docker's does
        self.params.append(click.Option([*names, "_fleet_file"], default=None, expose_value=False,
                                        callback=_file_after_command, metavar="FILE",
                                        help="The fleet file (also accepted before the command)."))


class FleetGroup(click.Group):
    command_class = FleetCommand
    group_class: type[click.Group] | type[type] | None = type  # subgroups are FleetGroups too


class RootGroup(FleetGroup):
    """The `cargohold` group: its commands' modules are imported when the command is asked for."""

    group_class = FleetGroup

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY:
            importlib.import_module(f"cargohold.cli.{LAZY[cmd_name][0]}")  # registers it on `cli`
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY[name][1] if name not in self.commands else self.commands[name].get_short_help_str(80))
                for name in self.list_commands(ctx) if not (name in self.commands and self.commands[name].hidden)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "fleet_file", default=DEFAULT_FLEET_FILE, show_default=True,
              envvar="CARGOHOLD_FILE", help="The fleet file.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="cargohold")
@click.pass_context
def cli(ctx: click.Context, fleet_file: str, debug: bool) -> None:
    """Run web sites as containers with per-site storage, from one declarative fleet file."""
    ctx.obj = Context(fleet_file=fleet_file, debug=debug)


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CargoholdError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one clear line, exit 1
        if debug:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
