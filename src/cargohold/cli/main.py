"""The `cargohold` command: a thin layer that parses, calls the core, and renders."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

import click

from cargohold import __version__
from cargohold.backends import Backends, connect
from cargohold.errors import CargoholdError
from cargohold.fleet import DEFAULT_FLEET_FILE, Fleet, load_fleet
from cargohold.fleet.desired import desired_state
from cargohold.model import Desired


@dataclass
class Context:
    fleet_file: str
    debug: bool
    _fleet: Fleet | None = field(default=None)

    def fleet(self) -> Fleet:
        if self._fleet is None:
            self._fleet = load_fleet(self.fleet_file)
        return self._fleet

    def desired(self) -> Desired:
        return desired_state(self.fleet())

    def backends(self) -> Backends:
        return connect(self.fleet())


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
    group_class = type  # subgroups are FleetGroups too


@click.group(cls=FleetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "fleet_file", default=DEFAULT_FLEET_FILE, show_default=True,
              envvar="CARGOHOLD_FILE", help="The fleet file.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="cargohold")
@click.pass_context
def cli(ctx: click.Context, fleet_file: str, debug: bool) -> None:
    """Run web sites as containers with per-site storage, from one declarative fleet file."""
    ctx.obj = Context(fleet_file=fleet_file, debug=debug)


def main() -> None:
    from cargohold.cli import commands  # noqa: F401  (registers the commands on `cli`)

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
