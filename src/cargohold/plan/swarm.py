"""The pure diff for runtime swarm: the swarm itself (init, joins), node labels (the storage guard),
and one service per site. No I/O; plan() calls it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cargohold.config_labels import config_changes
from cargohold.model import (
    Action,
    CreateService,
    InitSwarm,
    JoinSwarm,
    ObservedService,
    ObservedSwarm,
    RemoveService,
    ServiceSpec,
    SetNodeLabels,
    StorageState,
    SwarmSpec,
    UpdateService,
)
from cargohold.plan.draft import Draft


@dataclass
class SwarmDraft(Draft):
    """`excludes` take a node's storage label away: they go first of all, before any repair."""

    excludes: list[Action] = field(default_factory=list)


def swarm_actions(spec: SwarmSpec, swarm: ObservedSwarm, storage: dict[str, StorageState],
                  mounting: dict[str, str]) -> SwarmDraft:
    """Create or join the swarm when the fleet file allows it, and keep every node's labels: the
    fleet's own, plus the storage label while the node's storage mount carries the fleet's marker."""
    draft = SwarmDraft()
    actions, blockers, warnings = draft.actions, draft.blockers, draft.warnings
    if not swarm.active:
        if not spec.create:
            blockers.append(f"swarm: {spec.manager} manages no swarm ({swarm.problem}); run `docker swarm init` "
                            "there or set swarm.create: true")
            return draft
        actions.append(Action("create", f"swarm {spec.manager}", "no swarm yet: initialise it on the manager",
                              InitSwarm(spec.manager)))
    init = tuple(a.target for a in actions)
    joining = [n.name for n in spec.nodes
               if n.name != spec.manager and (not swarm.active or n.name in swarm.not_joined)]
    for name in joining:
        if not spec.create:
            blockers.append(f"swarm: node {name} is not in the swarm; join it or set swarm.create: true")
            continue
        actions.append(Action("create", f"swarm node {name}", "not in the swarm: join it", JoinSwarm(name), init))
    for node in spec.nodes:
        # A node that (re)joins is a new entry in the swarm: none of its labels is set yet.
        seen = None if node.name in joining else swarm.node(node.name)
        state = storage.get(node.name)
        broken = state is not None and not state.ok
        have = dict(seen.labels) if seen is not None else {}
        if broken and state is not None:
            if node.name not in mounting:  # a planned mount repairs it
                warnings.append(f"node {node.name} gets no instances: storage at {state.root}: {state.reason}")
            if have.get(spec.storage_label):
                # First of all, before any repair is tried: nothing new may land there meanwhile.
                draft.excludes.append(Action("update", f"swarm node {node.name} exclude",
                                             f"remove {spec.storage_label}: storage at {state.root}: {state.reason}",
                                             SetNodeLabels(node.name, remove=(spec.storage_label,))))
                have.pop(spec.storage_label)
        if seen is not None and seen.state != "ready":
            warnings.append(f"node {node.name} is {seen.state} in the swarm: its instances run elsewhere if they can")
        set_labels = {k: v for k, v in node.labels if have.get(k) != v}
        if (not broken or node.name in mounting) and have.get(spec.storage_label) != "ok":
            set_labels[spec.storage_label] = "ok"  # after the mount, if one is planned; apply checks again
        if not set_labels:
            continue
        after = init + tuple(a.target for a in actions if a.target == f"swarm node {node.name}")
        after += (mounting[node.name],) if node.name in mounting else ()
        guard = spec.storage_label if spec.storage_label in set_labels else ""
        actions.append(Action("update", f"swarm node {node.name} labels",
                              " ".join(f"set {k}={v}" for k, v in sorted(set_labels.items())),
                              SetNodeLabels(node.name, tuple(sorted(set_labels.items())), storage_label=guard), after))
    return draft


def service_action(spec: ServiceSpec, seen: ObservedService | None, after: tuple[str, ...]) -> Action | None:
    if seen is None:
        return Action("create", spec.target, f"missing ({spec.replicas} instance(s) of {spec.image})",
                      CreateService(spec), after)
    if seen.config_hash == spec.config_hash():
        if seen.update_state in ("paused", "rollback_paused"):  # Swarm stopped half-way: start it again
            return Action("update", spec.target, f"the last update is {seen.update_state.replace('_', ' ')} "
                          f"({seen.update_message}): redeploy every instance", UpdateService(spec, seen), after)
        return None
    reasons = config_changes(spec.config(), seen.config) or ["configuration changed"]
    if seen.update_state in ("rollback_completed", "rollback_paused"):
        reasons.append(f"the last update was rolled back: {seen.update_message}")
    return Action("update", spec.target, "; ".join(reasons) + " (rolling update)", UpdateService(spec, seen), after)


def leftover_services(wanted: set[str], swarm: ObservedSwarm) -> list[Action]:
    return [Action("remove", s.target, "site not in the fleet file (its files are kept)", RemoveService(s))
            for s in swarm.services if s.site not in wanted]
