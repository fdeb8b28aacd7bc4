"""logs: a site's logs from its instances, its front doors and its log area, merged by time."""

from __future__ import annotations

import json
import sys
import threading
import time

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.errors import UsageError
from cargohold.model import LogLine, parse_since


def render(line: LogLine, as_json: bool) -> str:
    if as_json:
        return json.dumps(line.to_json())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(line.time)) + f".{int(line.time % 1 * 1000):03d}Z"
    where = line.source
    if line.node:
        where += f" {line.node}"
    if line.instance:
        where += f"#{line.instance}"
    return f"{stamp} {where}: {line.text}"


@cli.command("logs")
@click.argument("domain")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--since", default=None, help="Only lines from this long ago (10m, 2h, 1d) or this time (ISO 8601).")
@click.option("--node", default=None, help="Only the instances on this node (then no log-area files).")
@click.option("--instance", type=int, default=None, help="Only this instance (then no log-area files).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line: time, source, node, instance, line.")
@pass_context
def logs_command(ctx: Context, domain: str, follow: bool, since: str | None, node: str | None,
                 instance: int | None, as_json: bool) -> None:
    """Print DOMAIN's logs: every instance's stdout and stderr (through its node's engine), the front
    doors' access log and the other files of the site's log area, merged by time, each line tagged
    with its source, node and instance. The fleet file is given with --file here (-f follows)."""
    try:
        start = parse_since(since, time.time()) if since is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    backends = ctx.backends()
    from cargohold import logs as logging_

    out = sys.stdout
    try:
        found = logging_.sources(ctx.fleet(), backends, domain, start, node, instance)
        lines, newest = logging_.backlog(found, start)
        for line in lines:
            out.write(render(line, as_json) + "\n")
        out.flush()
        if follow:
            stop = threading.Event()
            try:
                for line in logging_.follow(found, newest, stop):
                    out.write(render(line, as_json) + "\n")
                    out.flush()
            except KeyboardInterrupt:
                stop.set()
    finally:
        backends.close()
