"""The pure diff: plan(desired, observed) -> Plan. No I/O, no clock, no randomness.

Each part has its sub-planner (sites here; plan.swarm, plan.gluster, plan.frontdoor), which
returns its actions, blockers and warnings; ORDER says in which order the parts' actions run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from cargohold.config_labels import config_changes
from cargohold.model import (
    REPAIRS,
    Action,
    Desired,
    DirSpec,
    EnsureDir,
    InstanceSpec,
    MountStorage,
    Observed,
    ObservedDir,
    ObservedInstance,
    ObservedService,
    Plan,
    RemoveInstance,
    ReplaceInstance,
    SiteSpec,
    StartInstance,
    SyncFrontDoor,
)
from cargohold.plan.draft import Draft
from cargohold.plan.frontdoor import frontdoor_actions
from cargohold.plan.gluster import cluster_actions, quota_actions
from cargohold.plan.swarm import SwarmDraft, leftover_services, service_action, swarm_actions

# The order between the parts' actions: a node loses its storage label before anything else (no new
# instance may land on broken storage meanwhile); the storage cluster is repaired before the swarm's
# nodes get labels; sites (directories, then instances or services) next; then what the fleet file
# no longer names, quotas (the directories exist by then), and last the front doors.
ORDER = ("exclude", "cluster", "swarm", "sites", "leftovers", "quotas", "frontdoors")


def plan(desired: Desired, observed: Observed) -> Plan:
    parts: dict[str, Draft] = {name: Draft() for name in ORDER}
    cluster = observed.cluster
    if desired.cluster is not None and cluster is not None:
        parts["cluster"] = cluster_actions(desired.cluster, desired.mounts, cluster)
    # While this plan repairs the storage (starts the volume or its bricks, mounts it, writes the marker
    # of a volume it creates), what the storage looks like now does not block: directories and instances
    # wait for the repair, and apply checks the marker again right before each of them.
    repairs = tuple(a.target for a in parts["cluster"].actions if isinstance(a.op, REPAIRS))
    mounting = {a.op.node: a.target for a in parts["cluster"].actions if isinstance(a.op, MountStorage)}
    sites = parts["sites"]
    if not observed.storage.ok and not repairs:
        sites.blockers.append(f"storage root {observed.storage.root}: {observed.storage.reason}")
    node_blocked = {
        state.node: f"storage at {state.root} on node {state.node}: {state.reason}"
        for state in observed.nodes
        if not state.ok and not repairs and state.node not in dict(observed.unreachable)
    }
    swarm_targets: tuple[str, ...] = ()
    if desired.swarm is not None and observed.swarm is not None:
        # Swarm places instances itself: a node whose storage is not usable loses its storage label
        # (so nothing is placed there) instead of blocking the plan.
        node_blocked = {}
        storage = {state.node: state for state in observed.nodes}
        swarm: SwarmDraft = swarm_actions(desired.swarm, observed.swarm, storage, mounting)
        parts["swarm"] = swarm
        parts["exclude"] = Draft(swarm.excludes)
        swarm_targets = swarm.targets() + tuple(a.target for a in swarm.excludes)
    dirs = {d.relpath: d for d in observed.dirs}
    # site -> slot -> containers claiming that slot (normally exactly one)
    by_site: dict[str, dict[int, list[ObservedInstance]]] = defaultdict(lambda: defaultdict(list))
    for inst in sorted(observed.instances, key=lambda i: (i.site, i.slot, i.container_id)):
        by_site[inst.site][inst.slot].append(inst)

    for site in desired.sites:
        if site.service is not None and observed.swarm is not None:
            sites.actions += _plan_service_site(site, dirs, observed.swarm.service(site.domain),
                                                swarm_targets + repairs, sites.blockers)
            continue
        for action in _plan_site(site, dirs, by_site.pop(site.domain, {}), sites.blockers):
            node = action.node
            if node in node_blocked:
                sites.blockers.append(f"{action.target}: {node_blocked[node]}")
                continue
            extra = repairs if isinstance(action.op, EnsureDir) else (
                tuple(t for t in repairs if t not in mounting.values() or t == mounting.get(node or "")))
            sites.actions.append(replace(action, after=action.after + extra) if extra else action)
    # What is left belongs to sites that are no longer in the fleet file.
    leftovers = parts["leftovers"].actions
    for _site, slots in sorted(by_site.items()):
        for _slot, found in sorted(slots.items()):
            for inst in found:
                leftovers.append(Action("remove", inst.target, "site not in the fleet file (its files are kept)",
                                        RemoveInstance(inst)))
    if desired.swarm is not None and observed.swarm is not None:
        leftovers += leftover_services({s.domain for s in desired.sites}, observed.swarm)
    if desired.cluster is not None and cluster is not None:
        planned_dirs = {a.target for a in sites.actions if isinstance(a.op, EnsureDir)}
        parts["quotas"].actions += quota_actions(desired.cluster, cluster, planned_dirs)
    instance_targets = tuple(a.target for name in ORDER for a in parts[name].actions
                             if isinstance(a.op, StartInstance | ReplaceInstance | RemoveInstance))
    parts["frontdoors"].actions += frontdoor_actions(desired, observed, instance_targets)
    actions = [a for name in ORDER for a in parts[name].actions]
    # A node that does not answer: nothing on it is changed (what it runs, its mount and its front
    # door are unknown); the rest of the fleet goes ahead, each step still guarded as usual.
    down = dict(observed.unreachable)
    waiting = [a for a in actions if runs_on(a) in down]
    kept = [a for a in actions if runs_on(a) not in down]
    held = [a for a in kept if down and _last_known_instance(a, observed, down)]
    warnings = [w for name in ORDER for w in parts[name].warnings]
    warnings += [f"{a.target}: waits: every other instance of its site is on an unreachable node, and a "
                 "site never loses its last instance known to serve" for a in held]
    return Plan(
        fleet=desired.fleet,
        actions=tuple(a for a in kept if a not in held),
        blockers=tuple(b for name in ORDER for b in parts[name].blockers),
        warnings=tuple(warnings),
        unreachable=tuple((node, why, sum(1 for a in waiting if runs_on(a) == node))
                          for node, why in sorted(down.items())),
    )


def _last_known_instance(action: Action, observed: Observed, down: dict[str, str]) -> bool:
    """A replacement or removal that would stop the only running instance of its site on the nodes
    that answered (the others are on nodes that do not answer: they may be dead)."""
    op = action.op
    old = op.old if isinstance(op, ReplaceInstance | RemoveInstance) else None
    if old is None:
        return False
    others = [i for i in observed.instances if i.site == old.site and i.container_id != old.container_id
              and i.state == "running" and i.node not in down]
    return not others


def runs_on(action: Action) -> str | None:
    """The web node an action changes something on, if it is one node's."""
    op = action.op
    if isinstance(op, MountStorage):
        return op.node
    if isinstance(op, SyncFrontDoor):
        return op.spec.node
    return action.node


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
            actions.append(Action("create", spec.target, "missing", StartInstance(spec), dir_targets))
            continue
        want_hash = spec.config_hash()
        keep, *duplicates = sorted(found, key=lambda i: (i.state != "running", i.config_hash != want_hash))
        for dup in duplicates:
            actions.append(Action("remove", spec.target, f"duplicate container {dup.name}", RemoveInstance(dup)))
        reasons = replacement_reasons(spec, keep, want_hash)
        if reasons:
            # Rolling: each replacement waits for the previous one of the same site to be healthy.
            after = dir_targets + ((previous_replace,) if previous_replace else ())
            actions.append(Action("replace", spec.target, "; ".join(reasons), ReplaceInstance(spec, keep), after))
            previous_replace = spec.target

    wanted = len(site.instances)
    for _slot, extra in sorted(by_slot.items()):  # slots above `wanted`: the site was scaled down
        for inst in extra:
            actions.append(
                Action("remove", inst.target, f"scaled down to {wanted} instance(s)", RemoveInstance(inst),
                       (previous_replace,) if previous_replace else ())
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
        return Action("create", spec.target, f"missing (owner {spec.uid}:{spec.gid}, mode {spec.mode:04o})",
                      EnsureDir(spec))
    if seen.problem:
        blockers.append(f"{spec.relpath}: {seen.problem}")
        return None
    changes = []
    if (seen.uid, seen.gid) != (spec.uid, spec.gid):
        changes.append(f"owner {seen.uid}:{seen.gid} -> {spec.uid}:{spec.gid}")
    if seen.mode != spec.mode:
        changes.append(f"mode {seen.mode:04o} -> {spec.mode:04o}")
    if changes:
        return Action("update", spec.target, "; ".join(changes), EnsureDir(spec))
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
