"""backup, backups, restore: per-site restic snapshots, the restore drill, restores."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from cargohold import backup as backing
from cargohold.cli.main import Context, FleetGroup, cli, pass_context
from cargohold.cli.output import Output
from cargohold.cli.status import human_bytes
from cargohold.errors import RuntimeFailure, UsageError
from cargohold.model import parse_time


class BackupGroup(FleetGroup):
    """`cargohold backup [DOMAIN...]` backs up; `cargohold backup verify|init|aside ...` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _with_backends(ctx: Context, work: Callable[..., Any]) -> Any:
    backends = ctx.backends()
    try:
        return work(ctx.fleet(), backends)
    finally:
        backends.close()


def _report(out: Output, results: list[backing.SiteResult], as_json: bool, what: str) -> int:
    if as_json:
        out.json([r.to_json() for r in results])
    else:
        rows = []
        for r in results:
            run, ok = r.run, r.ok
            detail = " ".join(f"{a}:{i}" for a, i in run.snapshots.items()) if run and ok else r.problem
            rows.append([r.domain, r.kind, "ok" if ok else "FAILED", run.files if run else "-",
                         human_bytes(run.bytes) if run else "-", human_bytes(run.added) if run else "-",
                         f"{run.seconds:.1f}" if run else "-", detail])
        out.table(what, ["site", "run", "result", "files", "size", "new data", "seconds", "snapshots / error"], rows)
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeFailure("; ".join(f"{r.domain} ({r.kind}): {r.problem}" for r in failed))
    return 0


@cli.group("backup", cls=BackupGroup)
def backup_group() -> None:
    """Back up each site's storage areas with restic (`cargohold backup [DOMAIN...]`), run the
    restore drill (`backup verify`), create the repository (`backup init`), and list or remove
    what a restore put aside (`backup aside`)."""


@backup_group.command("run", hidden=True)
@click.argument("domains", nargs=-1)
@click.option("--due", is_flag=True, help="Only the sites that are due (then also the drills that are due).")
@click.option("--json", "as_json", is_flag=True, help="Print a summary per site as JSON.")
@pass_context
def backup_run(ctx: Context, domains: tuple[str, ...], due: bool, as_json: bool) -> int:
    """One snapshot per site and area, then retention (forget --prune) for each."""
    out = Output(as_json)

    def work(fleet: Any, backends: Any) -> int:
        results = backing.backup_sites(fleet, backends, domains, due, out.progress)
        if due:
            drills = [s for s in backing.drills_due(fleet, backends) if not domains or s.domain in domains]
            if drills:
                results += backing.verify_sites(fleet, backends, drills, None, out.progress)
            if not results and not as_json:
                out.line("nothing is due")
        return _report(out, results, as_json, "Backups")

    return int(_with_backends(ctx, work))


@backup_group.command("verify")
@click.argument("domains", nargs=-1)
@click.option("--scratch", type=click.Path(file_okay=False), default=None,
              help="Where to restore for the drill (default: the system's temporary directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the result per site as JSON.")
@pass_context
def backup_verify(ctx: Context, domains: tuple[str, ...], scratch: str | None, as_json: bool) -> int:
    """The restore drill: restore each site's latest snapshots into scratch, check them against the
    snapshot (every name and size; every byte read back against the repository), and `restic check`
    one rotating slice of the repository's data. The result is kept on the storage root for `status`."""
    out = Output(as_json)

    def work(fleet: Any, backends: Any) -> int:
        specs = backing.pick(backends, fleet, domains)
        return _report(out, backing.verify_sites(fleet, backends, specs, scratch, out.progress), as_json,
                       "Restore drill")

    return int(_with_backends(ctx, work))


@backup_group.command("init")
@pass_context
def backup_init(ctx: Context) -> None:
    """Create the restic repository (or each site's own) with the password file."""
    out = Output()
    for line in _with_backends(ctx, lambda fleet, backends: backing.driver(backends).init_repositories()):
        out.line(line)


@backup_group.command("aside")
@click.argument("domain")
@click.option("--purge", is_flag=True, help="Delete what restores of DOMAIN put aside (asks first).")
@click.option("--yes", is_flag=True, help="With --purge: do not ask.")
@pass_context
def backup_aside(ctx: Context, domain: str, purge: bool, yes: bool) -> None:
    """What restores of DOMAIN put aside (the content each one replaced); never deleted but by --purge."""
    out = Output()

    def work(fleet: Any, backends: Any) -> None:
        spec = backing.pick(backends, fleet, [domain])[0]
        root = backing.storage_root(fleet, backends)
        runs = backing.driver(backends).aside(root, spec.domain)
        if not runs:
            out.line(f"nothing put aside for {domain}")
            return
        for run in runs:
            out.line(f"  {root}/.cargohold-backup/aside/{domain}/{run}")
        if purge:
            if not yes:
                if not sys.stdin.isatty():
                    raise UsageError("refusing to delete data without confirmation: run in a terminal or pass --yes")
                if click.prompt(f"Type the domain ({domain}) to delete these directories for good").strip() != domain:
                    raise UsageError("confirmation did not match; nothing was deleted")
            out.line(f"removed {', '.join(backing.driver(backends).purge_aside(root, spec.domain))}")

    _with_backends(ctx, work)


@cli.command("backups")
@click.argument("domains", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshots as JSON.")
@pass_context
def backups_command(ctx: Context, domains: tuple[str, ...], as_json: bool) -> None:
    """The snapshots of each site (or of DOMAIN): area, id, time, files and size."""
    out = Output(as_json)
    rows = _with_backends(ctx, lambda fleet, backends: backing.snapshot_rows(fleet, backends, domains))
    if as_json:
        out.json(rows)
        return
    out.table("Snapshots", ["site", "area", "id", "time", "files", "size"],
              [[r["site"], r["area"], r["id"], str(r["time"])[:19].replace("T", " "),
                "?" if r["files"] is None else r["files"],
                "?" if r["bytes"] is None else human_bytes(int(r["bytes"]))] for r in rows])


@cli.command("restore")
@click.argument("domain")
@click.option("--snapshot", default=None, help="A snapshot id (or its first 8+ hex digits): restores its area.")
@click.option("--at", "at", default=None, help="The newest snapshots taken at or before this time (ISO 8601, UTC).")
@click.option("--area", default=None, help="Only this area (files, logs, ...).")
@click.option("--to", "to", type=click.Path(), default=None,
              help="Into this new directory (one subdirectory per area) instead of the live areas.")
@pass_context
def restore_command(ctx: Context, domain: str, snapshot: str | None, at: str | None, area: str | None,
                    to: str | None) -> None:
    """Restore DOMAIN's areas from its snapshots (default: the newest; into the live site every area
    but logs, which only --area logs restores).

    Without --to, into the live areas, under traffic: restored into staging on the same volume and
    checked first; then put in place file by file (each an atomic replacement: a request gets the old
    or the new file, never none); files written since the snapshot are moved aside with the replaced
    ones, under .cargohold-backup/aside/ on the storage root, never deleted automatically
    (`cargohold backup aside DOMAIN --purge`). On any error the live areas are left as they were.
    """
    out = Output()
    try:
        when = parse_time(at) if at is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    lines = _with_backends(ctx, lambda fleet, backends: backing.restore_site(
        fleet, backends, domain, snapshot, when, area, to, out.progress))
    for line in lines:
        out.line(line)
