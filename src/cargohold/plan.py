"""The pure diff: plan(desired, observed) -> Plan. No I/O, no clock, no randomness."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from cargohold.config_labels import config_changes
from cargohold.model import (
    Action,
    Desired,
    DirSpec,
    InstanceSpec,
    Observed,
    ObservedDir,
    ObservedInstance,
    ObservedService,
    Plan,
    SiteSpec,
    Step,
)
from cargohold.plan_swarm import leftover_services, service_action, swarm_actions
from cargohold.storage.glusterfs_plan import ObservedCluster, cluster_actions, quota_actions


def plan(desired: Desired, observed: Observed) -> Plan:
    blockers: list[str] = []
    warnings: list[str] = []
    actions: list[Action] = []
    cluster = observed.cluster if isinstance(observed.cluster, ObservedCluster) else None
    if desired.cluster is not None and cluster is not None:
        actions += cluster_actions(desired.cluster, desired.node_storage, cluster, blockers, warnings)
    # While this plan repairs the storage (starts the volume or its bricks, mounts it, writes the marker
    # of a volume it creates), what the storage looks like now does not block: directories and instances
    # wait for the repair, and apply checks the marker again right before each of them.
    repairs = tuple(a.target for a in actions if a.step is not None and a.step.op in REPAIR_STEPS)
    mounting = {a.step.args[0]: a.target for a in actions if a.step is not None and a.step.op == "mount"}
    if not observed.storage.ok and not repairs:
        blockers.append(f"storage root {observed.storage.root}: {observed.storage.reason}")
    node_blocked = {
        state.node: f"storage at {state.root} on node {state.node}: {state.reason}"
        for state in observed.nodes
        if not state.ok and not repairs
    }
    swarm_targets: tuple[str, ...] = ()
    if desired.swarm is not None and observed.swarm is not None:
        # Swarm places instances itself: a node whose storage is not usable loses its storage label
        # (so nothing is placed there) instead of blocking the plan.
        node_blocked = {}
        storage = {state.node: state for state in observed.nodes}
        swarm = swarm_actions(desired.swarm, observed.swarm, storage, mounting, blockers, warnings)
        excludes = [a for a in swarm if a.target.endswith(" exclude")]
        actions = excludes + actions + [a for a in swarm if a not in excludes]
        swarm_targets = tuple(a.target for a in swarm)
    dirs = {d.relpath: d for d in observed.dirs}
    # site -> slot -> containers claiming that slot (normally exactly one)
    by_site: dict[str, dict[int, list[ObservedInstance]]] = defaultdict(lambda: defaultdict(list))
    for inst in sorted(observed.instances, key=lambda i: (i.site, i.slot, i.container_id)):
        by_site[inst.site][inst.slot].append(inst)

    for site in desired.sites:
        if site.service is not None and observed.swarm is not None:
            actions += _plan_service_site(site, dirs, observed.swarm.service(site.domain), swarm_targets + repairs,
                                          blockers)
            continue
        site_actions = _plan_site(site, dirs, by_site.pop(site.domain, {}), blockers)
        for action in site_actions:
            node = action.instance.node if action.instance is not None else None
            if node in node_blocked:
                blockers.append(f"{action.target}: {node_blocked[node]}")
                continue
            extra = repairs if action.dir is not None else (
                tuple(t for t in repairs if t not in mounting.values() or t == mounting.get(node or "")))
            actions.append(replace(action, after=action.after + extra) if extra else action)
    # What is left belongs to sites that are no longer in the fleet file.
    for _site, slots in sorted(by_site.items()):
        for _slot, leftovers in sorted(slots.items()):
            for inst in leftovers:
                actions.append(
                    Action("remove", inst.target, "site not in the fleet file (its files are kept)", observed=inst)
                )
    if desired.swarm is not None and observed.swarm is not None:
        actions += leftover_services({s.domain for s in desired.sites}, observed.swarm)
    if desired.cluster is not None and cluster is not None:
        actions += quota_actions(desired.cluster, cluster, {a.target for a in actions})
    actions += _frontdoor_actions(desired, observed, actions)
    return Plan(fleet=desired.fleet, actions=tuple(actions), blockers=tuple(blockers), warnings=tuple(warnings))


REPAIR_STEPS = ("create-volume", "start-volume", "start-bricks", "mount", "write-marker")


def _frontdoor_actions(desired: Desired, observed: Observed, actions: list[Action]) -> list[Action]:
    """Each front door is rendered from the instances as they run after this plan; instance changes
    and drift (a front door down, or running another configuration) both call for a sync."""
    instance_targets = tuple(a.target for a in actions if a.instance is not None or a.observed is not None)
    out = []
    for node in desired.frontdoor_nodes:
        if node in observed.frontdoor_drift:
            reason = "not running the configuration the instances call for"
        elif instance_targets:
            reason = "instances change"
        else:
            continue
        out.append(Action("update", f"frontdoor {node}", reason, instance_targets,
                          step=Step("frontdoor-sync", (node,))))
    return out


def _plan_site(
    site: SiteSpec,
    dirs: dict[str, ObservedDir],
    by_slot: dict[int, list[ObservedInstance]],
    blockers: list[str],
) -> list[Action]:
    actions: list[Action] = []
    for dir_spec in site.dirs:
        action = _plan_dir(dir_spec, dirs.get(dir_spec.relpath), blockers)
        if action is not None:
            actions.append(action)
    dir_targets = tuple(a.target for a in actions)

    previous_replace: str | None = None
    for spec in site.instances:
        found = by_slot.pop(spec.slot, [])
        if not found:
            actions.append(Action("create", spec.target, "missing", dir_targets, instance=spec))
            continue
        want_hash = spec.config_hash()
        keep, *duplicates = sorted(found, key=lambda i: (i.state != "running", i.config_hash != want_hash))
        for dup in duplicates:
            actions.append(Action("remove", spec.target, f"duplicate container {dup.name}", observed=dup))
        reasons = replacement_reasons(spec, keep, want_hash)
        if reasons:
            # Rolling: each replacement waits for the previous one of the same site to be healthy.
            after = dir_targets + ((previous_replace,) if previous_replace else ())
            actions.append(Action("replace", spec.target, "; ".join(reasons), after, instance=spec, observed=keep))
            previous_replace = spec.target

    wanted = len(site.instances)
    for _slot, extra in sorted(by_slot.items()):  # slots above `wanted`: the site was scaled down
        for inst in extra:
            actions.append(
                Action("remove", inst.target, f"scaled down to {wanted} instance(s)", (previous_replace,)
                       if previous_replace else (), observed=inst)
            )
    return actions


def _plan_service_site(
    site: SiteSpec,
    dirs: dict[str, ObservedDir],
    seen: ObservedService | None,
    after: tuple[str, ...],
    blockers: list[str],
) -> list[Action]:
    assert site.service is not None
    actions = [a for a in (_plan_dir(d, dirs.get(d.relpath), blockers) for d in site.dirs) if a is not None]
    action = service_action(site.service, seen, tuple(a.target for a in actions) + after)
    return actions + ([action] if action is not None else [])


def _plan_dir(spec: DirSpec, seen: ObservedDir | None, blockers: list[str]) -> Action | None:
    if seen is None or not seen.exists:
        return Action("create", spec.target, f"missing (owner {spec.uid}:{spec.gid}, mode {spec.mode:04o})", dir=spec)
    if seen.problem:
        blockers.append(f"{spec.relpath}: {seen.problem}")
        return None
    changes = []
    if (seen.uid, seen.gid) != (spec.uid, spec.gid):
        changes.append(f"owner {seen.uid}:{seen.gid} -> {spec.uid}:{spec.gid}")
    if seen.mode != spec.mode:
        changes.append(f"mode {seen.mode:04o} -> {spec.mode:04o}")
    if changes:
        return Action("update", spec.target, "; ".join(changes), dir=spec)
    return None


def replacement_reasons(spec: InstanceSpec, seen: ObservedInstance, want_hash: str | None = None) -> list[str]:
    """Why the running instance is not the one the fleet file asks for; empty when it is."""
    reasons: list[str] = []
    if seen.node != spec.node:
        reasons.append(f"moves from node {seen.node} to {spec.node}")
    if seen.state != "running":
        reasons.append(f"not running ({seen.state})")
    if seen.config_hash != (want_hash or spec.config_hash()):
        reasons.extend(config_changes(spec.config(), seen.config) or ["configuration changed"])
    return reasons
