"""What runs, how healthy it is, and how much storage each site uses: one report, table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cargohold.backends import Backends
from cargohold.errors import RuntimeFailure
from cargohold.fleet.schema import Fleet
from cargohold.frontdoor.doors import FrontDoors, server_name
from cargohold.model import Desired, ObservedInstance
from cargohold.storage.canary import CheckResult, last_result, node_mounts
from cargohold.storage.glusterfs import GlusterStorage


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

    @property
    def degraded(self) -> list[str]:
        """Reasons for monitoring to page: everything that keeps a site below its desired state."""
        reasons = [] if self.storage_ok else [f"storage root: {self.storage_reason}"]
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


def _swarm_report(report: StatusReport, desired: Desired, backends: Backends, addresses: dict[str, str]) -> None:
    """Swarm's view: nodes (state, availability, why excluded) and each site's tasks per node."""
    assert backends.swarm is not None and desired.swarm is not None
    observed = backends.swarm.observe(desired.fleet)
    nodes = []
    for node in observed.nodes:
        state = backends.check_node(desired, node.name) if node.name in desired.nodes else None
        label = dict(node.labels).get(desired.swarm.storage_label)
        excluded = ""
        if state is not None and not state.ok:
            excluded = f"storage at {state.root}: {state.reason}"
        elif state is not None and label != "ok":
            excluded = "storage label not set yet (run apply)"
        engine = backends.swarm.engine_problem(node.name) if node.name in desired.nodes else ""
        nodes.append({"name": node.name, "state": node.state, "availability": node.availability, "engine": engine,
                      "address": node.address, "manager": node.manager, "excluded": excluded,
                      "labels": dict(node.labels)})
    services = []
    for svc in observed.services:
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
    report.swarm = {"active": observed.active, "problem": observed.problem, "nodes": nodes, "services": services,
                    "not_joined": list(observed.not_joined),
                    "missing": [s.domain for s in desired.sites if observed.service(s.domain) is None]}


def _add_frontdoor(report: StatusReport, doors: FrontDoors) -> None:
    """Front-door state of each instance, and each site's traffic, from every node's HAProxy."""
    rows: dict[str, list[dict[str, str]]] = {}
    for node, door in doors.doors.items():
        try:
            rows[node] = door.stats()
        except RuntimeFailure:
            rows[node] = []
            report.frontdoor_down.append(node)
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
    state = backends.storage.check_root(desired.fleet)
    report = StatusReport(desired.fleet, state.root, state.ok, state.reason)
    if isinstance(backends.storage, GlusterStorage):
        report.cluster = backends.storage.cluster_report()
    mounts = node_mounts(desired.node_storage)
    last = last_result(mounts[0]) if mounts and state.ok else None
    report.storage_check = last.to_json() if last is not None else None
    addresses = {n.name: n.address for n in fleet.nodes}
    if backends.swarm is not None:
        _swarm_report(report, desired, backends, addresses)
    observed = sorted(backends.runtime.observe(desired.fleet), key=lambda i: (i.site, i.slot, i.node)) \
        if backends.swarm is None else []
    seen = {(i.site, i.slot) for i in observed}
    wanted = {site.domain: len(site.instances) for site in desired.sites}
    for inst in observed:
        row = _row(inst, addresses)
        if inst.site in wanted and inst.slot <= wanted[inst.site]:
            report.instances.append(row)
        else:
            report.orphans.append(row)
    for site in desired.sites:
        report.missing += [spec.target for spec in site.instances if (site.domain, spec.slot) not in seen]
        if with_usage:
            for spec in site.dirs:
                usage = backends.storage.usage(spec.relpath)
                report.storage.append(
                    AreaUsage(site.domain, spec.area, spec.relpath, usage.bytes if usage else 0,
                              usage.files if usage else 0, usage is not None)
                )
    if backends.frontdoors is not None:
        _add_frontdoor(report, backends.frontdoors)
    return report
