"""What runs, how healthy it is, and how much storage each site uses: one report, table or JSON.

Built from one observation (the drivers' detailed one) and the plan made from it: status is
degraded exactly when the plan is not empty, a blocker exists, or something is unhealthy."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cargohold.backends import Backends, observe
from cargohold.fleet.schema import Fleet
from cargohold.model import (
    BackupRecord,
    ClusterSpec,
    CreateService,
    Desired,
    Observed,
    ObservedCluster,
    ObservedInstance,
    Plan,
    StartInstance,
    StorageState,
    backup_problems,
    server_name,
)
from cargohold.plan import plan as make_plan
from cargohold.storage.canary import CheckResult, last_result, node_mounts


@dataclass
class InstanceRow:
    site: str
    instance: int
    node: str
    address: str
    port: int
    state: str
    health: str
    image: str
    container: str
    frontdoor: dict[str, str] = field(default_factory=dict)  # node -> UP/DOWN/DRAIN/MAINT as HAProxy reports


@dataclass
class AreaUsage:
    site: str
    area: str
    path: str
    bytes: int
    files: int
    exists: bool


@dataclass
class StatusReport:
    fleet: str
    storage_root: str
    storage_ok: bool
    storage_reason: str
    instances: list[InstanceRow] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphans: list[InstanceRow] = field(default_factory=list)
    storage: list[AreaUsage] = field(default_factory=list)
    frontdoor_down: list[str] = field(default_factory=list)
    cluster: dict[str, Any] | None = None
    swarm: dict[str, Any] | None = None  # runtime swarm: nodes and services as Swarm reports them
    traffic: list[dict[str, Any]] = field(default_factory=list)  # per site: request rate, 5xx, per front door
    storage_check: dict[str, Any] | None = None  # the last `cargohold storage check`, as it left it
    plan: list[str] = field(default_factory=list)  # what apply would change (beyond `missing`)
    blockers: list[str] = field(default_factory=list)  # what keeps apply from changing anything
    # per backed-up site: the last backup and drill as the storage root records them, and what is wrong
    backups: list[dict[str, Any]] = field(default_factory=list)
    unreachable: list[dict[str, str]] = field(default_factory=list)  # nodes that did not answer, and why

    @property
    def degraded(self) -> list[str]:
        """Reasons for monitoring to page: everything that keeps a site below its desired state."""
        reasons = [] if self.storage_ok else [f"storage root: {self.storage_reason}"]
        reasons += [f"node {u['node']} is unreachable: {u['why']}" for u in self.unreachable]
        reasons += [f"{m}: missing" for m in self.missing]
        reasons += [
            f"instance {r.site}#{r.instance}: {r.state}/{r.health}"
            for r in self.instances
            if r.state != "running" or r.health in ("unhealthy", "starting")
        ]
        if self.cluster is not None:
            reasons += cluster_problems(self.cluster)
        if self.swarm is not None:
            reasons += swarm_problems(self.swarm)
        if self.storage_check is not None:
            reasons += [f"storage check: {p}" for p in CheckResult.from_json(self.storage_check).problems()]
        reasons += [f"front door on {node}: not answering" for node in self.frontdoor_down]
        reasons += [f"instance {r.site}#{r.instance} on {r.node}: {state} in the front door on {node}"
                    for r in self.instances for node, state in r.frontdoor.items() if state not in ("UP", "no")]
        reasons += [p for b in self.backups for p in b["problems"]]
        reasons += [f"plan: {change}" for change in self.plan]
        reasons += [f"blocked: {blocker}" for blocker in self.blockers]
        return reasons

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["degraded"] = self.degraded
        return data


def swarm_problems(swarm: dict[str, Any]) -> list[str]:
    if not swarm["active"]:
        return [f"swarm: {swarm['problem']}"]
    problems = [f"node {n['name']}: {n['engine']}" for n in swarm["nodes"] if n["engine"]]
    problems += [f"node {n['name']}: {n['state']} in the swarm" for n in swarm["nodes"] if n["state"] != "ready"]
    problems += [f"node {n['name']}: {n['availability']} (no instances until `cargohold node undrain`)"
                 for n in swarm["nodes"] if n["state"] == "ready" and n["availability"] != "active"]
    problems += [f"node {n['name']}: excluded: {n['excluded']}" for n in swarm["nodes"] if n["excluded"]]
    problems += [f"node {name}: not in the swarm" for name in swarm["not_joined"]]
    for svc in swarm["services"]:
        if svc["running"] < svc["instances"]:
            problems.append(f"site {svc['site']}: {svc['running']} of {svc['instances']} instances running")
        if svc["update_state"] in ("paused", "rollback_paused"):
            problems.append(f"site {svc['site']}: last update {svc['update_state']}: {svc['update_message']}")
    problems += [f"site {site}: no service" for site in swarm["missing"]]
    return problems


def _swarm_report(report: StatusReport, desired: Desired, observed: Observed, plan: Plan,
                  addresses: dict[str, str]) -> None:
    """Swarm's view: nodes (state, availability, why excluded) and each site's tasks per node."""
    seen, spec = observed.swarm, desired.swarm
    assert seen is not None and spec is not None
    nodes = []
    for node in seen.nodes:
        state = _node_storage(observed, node.name) if node.name in desired.nodes else None
        label = dict(node.labels).get(spec.storage_label)
        excluded = ""
        if state is not None and not state.ok:
            excluded = f"storage at {state.root}: {state.reason}"
        elif state is not None and label != "ok":
            excluded = "storage label not set yet (run apply)"
        nodes.append({"name": node.name, "state": node.state, "availability": node.availability,
                      "engine": node.engine, "address": node.address, "manager": node.manager,
                      "excluded": excluded, "labels": dict(node.labels)})
    services = []
    for svc in seen.services:
        running = svc.running()
        services.append({
            "site": svc.site, "instances": svc.replicas, "running": len(running),
            "update_state": svc.update_state or "-", "update_message": svc.update_message,
            "tasks": [asdict(t) for t in svc.tasks if t.desired == "running" or t.state == "running"],
        })
        for task in running:
            report.instances.append(InstanceRow(
                site=svc.site, instance=task.slot, node=task.node, address=addresses.get(task.node, "?"),
                port=int(str(svc.config.get("port", 0))), state="running", health="healthy", image=task.image,
                container=f"task {task.slot}"))
    report.swarm = {"active": seen.active, "problem": seen.problem, "nodes": nodes, "services": services,
                    "not_joined": list(seen.not_joined),
                    "missing": [a.op.spec.site for a in plan.actions if isinstance(a.op, CreateService)]}


def _node_storage(observed: Observed, node: str) -> StorageState:
    """A node's storage as observed; a node that sees the root at the fleet's path shares its check."""
    return observed.node_state(node) or observed.storage


def _add_frontdoor(report: StatusReport, observed: Observed) -> None:
    """Front-door state of each instance, and each site's traffic, from every node's HAProxy."""
    rows = {door.node: list(door.stats) for door in observed.frontdoors if door.running}
    report.frontdoor_down = [door.node for door in observed.frontdoors if not door.running]
    for inst in report.instances:
        for node, stats in rows.items():
            server = inst.node if report.swarm is not None else server_name(inst.instance)
            row = next((r for r in stats if r["pxname"] == inst.site and r["svname"] == server), None)
            inst.frontdoor[node] = row["status"].split()[0] if row else "absent"
    for site in {i.site for i in report.instances}:
        backend = [r for stats in rows.values() for r in stats if r["pxname"] == site and r["svname"] == "BACKEND"]
        report.traffic.append({
            "site": site,
            "req_rate": sum(int(r.get("req_rate") or 0) for r in backend),
            "http_5xx": sum(int(r.get("hrsp_5xx") or 0) for r in backend),
            "requests": sum(int(r.get("req_tot") or 0) for r in backend),
        })


def cluster_report(spec: ClusterSpec, seen: ObservedCluster) -> dict[str, Any]:
    """What `status` shows of the storage: servers, bricks (online, heal backlog, split-brain, disk
    free), web-node mounts, quotas."""
    down = dict(seen.unreachable)
    if seen.error and not seen.answered_by:
        down = {s.name: "does not answer" for s in spec.servers}
    servers = [{"name": s.name, "address": s.address, "glusterd": s.name not in down, "problem": down.get(s.name)}
               for s in spec.servers]
    heal = {h.brick: h for h in seen.heal}
    free = dict(seen.disk_free)
    bricks = []
    for server in spec.servers:
        name = f"{server.address}:{server.brick}"
        status = next((b for b in seen.bricks if b.name == name), None)
        summary = heal.get(name)
        bricks.append({
            "brick": name, "server": server.name,
            # While a server does not answer, brick state is not asked for (it would lock the volume).
            "online": None if seen.unreachable else bool(status and status.online),
            "pid": status.pid if status else 0,
            "heal_pending": summary.pending if summary and summary.connected else None,
            "split_brain": summary.split_brain if summary and summary.connected else None,
            "disk_free": free.get(name),
        })
    mounts = [{"node": m.node, "mountpoint": m.mountpoint, "mounted": m.mounted, "server": m.server}
              for m in seen.mounts]
    return {"volume": spec.volume, "error": seen.error,
            "status": seen.volume.status if seen.volume else "missing",
            "servers": servers, "bricks": bricks, "mounts": mounts,
            "quotas": [{"path": rel, "limit": limit} for rel, limit in seen.quotas]}


def cluster_problems(cluster: dict[str, Any]) -> list[str]:
    problems = [f"storage: {cluster['error']}"] if cluster.get("error") else []
    if cluster.get("status") != "Started":
        problems.append(f"volume {cluster['volume']}: {cluster.get('status')}")
    problems += [f"server {s['name']} ({s['address']}): {s.get('problem') or 'not answering'}"
                 for s in cluster["servers"] if not s["glusterd"]]
    for b in cluster["bricks"]:
        if b["online"] is False:
            problems.append(f"brick {b['brick']}: offline")
        if b["heal_pending"]:
            problems.append(f"brick {b['brick']}: {b['heal_pending']} entries to heal")
        if b["split_brain"]:
            problems.append(f"brick {b['brick']}: {b['split_brain']} entries in split-brain")
    problems += [f"node {m['node']}: storage not mounted at {m['mountpoint']}" for m in cluster["mounts"]
                 if not m["mounted"]]
    return problems


def _row(inst: ObservedInstance, addresses: dict[str, str]) -> InstanceRow:
    return InstanceRow(
        site=inst.site,
        instance=inst.slot,
        node=inst.node,
        address=addresses.get(inst.node, "?"),
        port=inst.port,
        state=inst.state,
        health=inst.health,
        image=str(inst.config.get("image", "?")),
        container=inst.name,
    )


def build_status(fleet: Fleet, desired: Desired, backends: Backends, with_usage: bool = True) -> StatusReport:
    observed = observe(desired, backends, detail=True)
    plan = make_plan(desired, observed)
    state = observed.storage
    report = StatusReport(desired.fleet, state.root, state.ok, state.reason)
    if desired.cluster is not None and observed.cluster is not None:
        report.cluster = cluster_report(desired.cluster, observed.cluster)
    mounts = node_mounts(desired.node_storage)
    last = last_result(mounts[0]) if mounts and state.ok else None
    report.storage_check = last.to_json() if last is not None else None
    addresses = {n.name: n.address for n in fleet.nodes}
    if observed.swarm is not None:
        _swarm_report(report, desired, observed, plan, addresses)
    wanted = {site.domain: len(site.instances) for site in desired.sites}
    for inst in sorted(observed.instances, key=lambda i: (i.site, i.slot, i.node)):
        row = _row(inst, addresses)
        if inst.site in wanted and inst.slot <= wanted[inst.site]:
            report.instances.append(row)
        else:
            report.orphans.append(row)
    # What the plan would do: missing instances and services have their own lines; the rest is `plan`.
    for action in plan.actions:
        if isinstance(action.op, StartInstance) and action.reason == "missing":
            report.missing.append(action.target)
        elif not isinstance(action.op, CreateService):
            report.plan.append(f"{action.kind} {action.target}: {action.reason}")
    report.blockers = list(plan.blockers)
    report.unreachable = [{"node": node, "why": why} for node, why in observed.unreachable]
    if with_usage:
        for site in desired.sites:
            for spec in site.dirs:
                usage = backends.storage.usage(spec.relpath)
                report.storage.append(
                    AreaUsage(site.domain, spec.area, spec.relpath, usage.bytes if usage else 0,
                              usage.files if usage else 0, usage is not None)
                )
    _add_frontdoor(report, observed)
    if backends.backup is not None and state.ok:
        _add_backups(report, desired, backends.backup.records(state.root))
    return report


def _add_backups(report: StatusReport, desired: Desired, records: dict[str, BackupRecord]) -> None:
    now = time.time()
    for spec in desired.backups:
        record = records[spec.domain]
        good, drill = record.last_good_backup, record.last_good_drill
        report.backups.append({
            "site": spec.domain, "every_s": spec.every_s, "verify_every_s": spec.verify_every_s,
            "last_good_backup_at": good.at if good else None,
            "last_good_backup_age_s": round(now - good.at, 1) if good else None,
            "last_good_drill_at": drill.at if drill else None,
            "last_good_drill_age_s": round(now - drill.at, 1) if drill else None,
            "last_backup_ok": record.last_backup.ok if record.last_backup else None,
            "last_drill_ok": record.last_drill.ok if record.last_drill else None,
            "problems": backup_problems(spec, record, now),
        })
