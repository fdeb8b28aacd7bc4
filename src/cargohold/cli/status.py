"""status: instances, health, storage per site, orphans. Exits 1 when something is degraded."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output, milliseconds

if TYPE_CHECKING:
    from cargohold.status import StatusReport


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def render_cluster(out: Output, cluster: dict[str, Any]) -> None:
    answering = {s["name"]: s["glusterd"] for s in cluster["servers"]}
    out.table(
        f"GlusterFS volume {cluster['volume']} ({cluster['status']})",
        ["server", "brick", "glusterd", "online", "heal pending", "split-brain", "disk free"],
        [[b["server"], b["brick"], "up" if answering.get(b["server"]) else "DOWN",
          "?" if b["online"] is None else ("yes" if b["online"] else "NO"),
          "?" if b["heal_pending"] is None else b["heal_pending"],
          "?" if b["split_brain"] is None else b["split_brain"],
          "?" if b["disk_free"] is None else human_bytes(b["disk_free"])] for b in cluster["bricks"]],
    )
    out.table("Mounts", ["node", "mountpoint", "mounted", "from server"],
              [[m["node"], m["mountpoint"], "yes" if m["mounted"] else "NO", m["server"] or "-"]
               for m in cluster["mounts"]])
    if cluster["quotas"]:
        out.table("Quotas", ["path", "limit"],
                  [[q["path"], human_bytes(q["limit"]) if q["limit"] else "none"] for q in cluster["quotas"]])


def render_swarm(out: Output, swarm: dict[str, Any]) -> None:
    out.table("Swarm nodes", ["node", "address", "state", "engine", "availability", "role", "excluded"],
              [[n["name"], n["address"], n["state"], "NOT ANSWERING" if n["engine"] else "ok", n["availability"],
                "manager" if n["manager"] else "worker", n["excluded"] or "-"] for n in swarm["nodes"]])
    out.table("Swarm services", ["site", "running / desired", "tasks (slot@node: state)", "last update"],
              [[s["site"], f"{s['running']} / {s['instances']}",
                " ".join(f"{t['slot']}@{t['node'] or '-'}:{t['state']}" for t in s["tasks"]),
                s["update_state"] + (f": {s['update_message']}" if s["update_message"] else "")]
               for s in swarm["services"]])


def render_status(out: Output, report: StatusReport) -> None:
    root_state = "ok" if report.storage_ok else f"NOT OK: {report.storage_reason}"
    out.line(f"Fleet {report.fleet}; storage root {report.storage_root}: {root_state}")
    rows = [[r.site, r.instance, r.node, f"{r.address}:{r.port}", r.state, r.health,
             " ".join(f"{n}:{s}" for n, s in r.frontdoor.items()) or "-", r.image, r.container]
            for r in report.instances]
    rows += [[m.split()[-1].split("#")[0], m.split("#")[-1], "-", "-", "missing", "-", "-", "-", "-"]
             for m in report.missing]
    out.table("Instances", ["site", "#", "node", "address", "state", "health", "front door", "image", "container"],
              rows)
    if report.traffic:
        out.table("Traffic (front doors)", ["site", "requests/s", "5xx", "requests"],
                  [[t["site"], t["req_rate"], t["http_5xx"], t["requests"]] for t in report.traffic])
    if report.storage:
        out.table("Storage", ["site", "area", "path", "size", "files"],
                  [[u.site, u.area, u.path, human_bytes(u.bytes) if u.exists else "missing", u.files]
                   for u in report.storage])
    if report.swarm is not None:
        render_swarm(out, report.swarm)
    if report.cluster is not None:
        render_cluster(out, report.cluster)
    if report.storage_check is not None:
        check = report.storage_check
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(check["at"]))
        out.table(f"Last storage check ({when}, written through {check['writer']})",
                  ["node", "state", "new file", "in-place rewrite"],
                  [[n["node"], n["state"], milliseconds(n["create_s"]), milliseconds(n["rewrite_s"])]
                   for n in check["nodes"]])
    if report.backups:
        out.table("Backups", ["site", "last good backup", "last good restore drill", "state"],
                  [[b["site"], _ago(b["last_good_backup_age_s"]), _ago(b["last_good_drill_age_s"]),
                    "ok" if not b["problems"] else "DEGRADED"] for b in report.backups])
    if report.orphans:
        out.table("Orphans (labelled for this fleet, not in the fleet file; `apply` removes them)",
                  ["site", "#", "node", "state", "container"],
                  [[r.site, r.instance, r.node, r.state, r.container] for r in report.orphans])
    for reason in report.degraded:
        out.line(f"degraded: {reason}", style="red")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-usage", is_flag=True, help="Skip walking the storage areas for size and file counts.")
@pass_context
def status_command(ctx: Context, as_json: bool, no_usage: bool) -> int:
    """Show sites, instances (node, address, health), storage use, and orphans.

    Exits 1 when anything is degraded (storage root not ok, an instance missing, stopped or
    unhealthy), so monitoring can call it.
    """
    backends = ctx.backends()
    from cargohold.status import build_status

    try:
        report = build_status(ctx.fleet(), ctx.desired(), backends, with_usage=not no_usage)
    finally:
        backends.close()
    out = Output(as_json)
    if as_json:
        out.json(report.to_json())
    else:
        render_status(out, report)
    return 1 if report.degraded else 0
