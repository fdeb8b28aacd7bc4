"""The pure diff for runtime swarm: the swarm itself (init, joins), node labels (the storage guard),
and one service per site. No I/O; plan() calls it."""

from __future__ import annotations

import json

from cargohold.config_labels import config_changes
from cargohold.model import (
    Action,
    ObservedService,
    ObservedSwarm,
    ServiceSpec,
    Step,
    StorageState,
    SwarmSpec,
)


def swarm_actions(
    spec: SwarmSpec,
    swarm: ObservedSwarm,
    storage: dict[str, StorageState],
    mounting: dict[str, str],
    blockers: list[str],
    warnings: list[str],
) -> list[Action]:
    """Create or join the swarm when the fleet file allows it, and keep every node's labels: the
    fleet's own, plus the storage label while the node's storage mount carries the fleet's marker."""
    actions: list[Action] = []
    if not swarm.active:
        if not spec.create:
            blockers.append(f"swarm: {spec.manager} manages no swarm ({swarm.problem}); run `docker swarm init` "
                            "there or set swarm.create: true")
            return actions
        actions.append(Action("create", f"swarm {spec.manager}", "no swarm yet: initialise it on the manager",
                              step=Step("swarm-init", (spec.manager,))))
    init = tuple(a.target for a in actions)
    joining = [n.name for n in spec.nodes
               if n.name != spec.manager and (not swarm.active or n.name in swarm.not_joined)]
    for name in joining:
        if not spec.create:
            blockers.append(f"swarm: node {name} is not in the swarm; join it or set swarm.create: true")
            continue
        actions.append(Action("create", f"swarm node {name}", "not in the swarm: join it", init,
                              step=Step("swarm-join", (name,))))
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
                actions.append(Action("update", f"swarm node {node.name} exclude",
                                      f"remove {spec.storage_label}: storage at {state.root}: {state.reason}",
                                      step=_labels_step(node.name, {}, [spec.storage_label])))
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
        actions.append(Action("update", f"swarm node {node.name} labels",
                              " ".join(f"set {k}={v}" for k, v in sorted(set_labels.items())), after,
                              step=_labels_step(node.name, set_labels, [])))
    return actions


def _labels_step(node: str, set_labels: dict[str, str], remove: list[str]) -> Step:
    return Step("node-labels", (node, json.dumps({"set": set_labels, "remove": remove}, sort_keys=True)))


def service_action(spec: ServiceSpec, seen: ObservedService | None, after: tuple[str, ...]) -> Action | None:
    if seen is None:
        return Action("create", spec.target, f"missing ({spec.replicas} instance(s) of {spec.image})", after,
                      service=spec)
    if seen.config_hash == spec.config_hash():
        if seen.update_state in ("paused", "rollback_paused"):  # Swarm stopped half-way: start it again
            return Action("update", spec.target, f"the last update is {seen.update_state.replace('_', ' ')} "
                          f"({seen.update_message}): redeploy every instance", after, service=spec,
                          observed_service=seen)
        return None
    reasons = config_changes(spec.config(), seen.config) or ["configuration changed"]
    if seen.update_state in ("rollback_completed", "rollback_paused"):
        reasons.append(f"the last update was rolled back: {seen.update_message}")
    return Action("update", spec.target, "; ".join(reasons) + " (rolling update)", after, service=spec,
                  observed_service=seen)


def leftover_services(wanted: set[str], swarm: ObservedSwarm) -> list[Action]:
    return [Action("remove", s.target, "site not in the fleet file (its files are kept)", observed_service=s)
            for s in swarm.services if s.site not in wanted]
