"""The `swarm` runtime: one Docker Swarm service per site, across the fleet's engines, via the Engine API.

Swarm schedules (at most one instance per node, only on nodes with the fleet's storage label),
restarts, and rolls updates out with automatic rollback; cargohold declares, labels, and waits.
Instances use host networking (no IPVS here: no routing mesh, no VIPs); the front doors route.
Every update and rollback setting is passed explicitly: docker-py's defaults are not the CLI's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import docker
import docker.errors
import docker.types

from cargohold.config_labels import label_config
from cargohold.errors import RuntimeFailure
from cargohold.model import ObservedService, ObservedSwarm, ObservedTask, ServiceSpec, SwarmNode, SwarmSpec
from cargohold.runtime.engines import ENGINE_ERRORS, LABEL_CONFIG, LABEL_FLEET, LABEL_HASH, LABEL_SITE, Engines
from cargohold.runtime.engines import short as _short
from cargohold.runtime.health import healthcheck_config, mounts_answer
from cargohold.runtime.swarm.rollout import Rollout, placeable, wait_rollouts
from cargohold.wait import Timeout, wait_until

_NS = 1_000_000_000
SWARM_PORT = 2377
LABEL_TASK_HASH = "cargohold.task-hash"
def service_name(fleet: str, site: str) -> str:
    return f"{fleet}_{site.replace('.', '-')}"[:63]


class SwarmRuntime:
    def __init__(self, spec: SwarmSpec, engines: Engines) -> None:
        self.spec = spec
        self.engines = engines  # one client per node, for joins and labels
        self.addresses = {n.name: n.address for n in spec.nodes}

    @property
    def manager(self) -> docker.DockerClient:
        return self.engines.client(self.spec.manager)

    def close(self) -> None:
        self.engines.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"swarm: {what} failed: {_short(exc)}") from None

    # -- observe ---------------------------------------------------------------------------

    def observe(self, fleet: str) -> ObservedSwarm:
        info = self._call(f"asking the manager {self.spec.manager}", self.manager.info)
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            state = swarm.get("LocalNodeState") or "inactive"
            return ObservedSwarm(active=False, problem=f"its engine's swarm state is {state}"
                                 + ("" if state != "active" else ", and it is not a manager"))
        nodes = self._nodes()
        names = {n.name for n in nodes}
        by_id = {n.node_id: n.name for n in nodes}
        down = {n.name for n in nodes if n.state != "ready"}
        rows = self._call("listing services", self.manager.api.services, filters={"label": f"{LABEL_FLEET}={fleet}"})
        tasks: dict[str, list[dict[str, Any]]] = {row["ID"]: [] for row in rows}
        if rows:  # one call for every service's tasks
            for task in self._call("listing tasks", self.manager.api.tasks):
                tasks.get(task.get("ServiceID", ""), []).append(task)
        services = tuple(self._service(row, tasks[row["ID"]], by_id, down) for row in rows)
        ready = {n.name for n in nodes if n.state == "ready"}
        return ObservedSwarm(
            active=True,
            nodes=nodes,
            services=tuple(sorted(services, key=lambda s: s.site)),
            # A node the manager lists as down may have left the swarm (its engine says so): join it again.
            not_joined=tuple(n.name for n in self.spec.nodes if n.name not in names
                             or (n.name not in ready and self._left_swarm(n.name))),
        )

    def _left_swarm(self, node: str) -> bool:
        """Does the node's own engine answer and say it is in no swarm?"""
        info, _ = self._ask_engine(node)
        return info is not None and (info.get("Swarm") or {}).get("LocalNodeState") == "inactive"

    def _nodes(self) -> tuple[SwarmNode, ...]:
        rows = self._call("listing nodes", self.manager.api.nodes)
        found: dict[str, SwarmNode] = {}
        for row in rows:
            node = SwarmNode(
                name=row["Description"]["Hostname"],
                node_id=row["ID"],
                state=row["Status"]["State"],
                availability=row["Spec"].get("Availability", "active"),
                address=row["Status"].get("Addr", ""),
                manager="ManagerStatus" in row,
                labels=tuple(sorted((row["Spec"].get("Labels") or {}).items())),
            )
            # A node that left and joined again is listed twice: the ready entry is the real one.
            if node.name not in found or found[node.name].state != "ready":
                found[node.name] = node
        return tuple(sorted(found.values(), key=lambda n: n.name))

    def _service(self, row: Mapping[str, Any], task_rows: list[dict[str, Any]], node_names: Mapping[str, str],
                 down: set[str]) -> ObservedService:
        spec = row["Spec"]
        labels = spec.get("Labels") or {}
        try:
            config = json.loads(labels.get(LABEL_CONFIG, "{}"))
        except ValueError:
            config = {}
        want_hash = labels.get(LABEL_TASK_HASH, "")
        tasks = []
        for task in task_rows:
            container = task["Spec"].get("ContainerSpec", {})
            status = task.get("Status", {})
            node = node_names.get(task.get("NodeID", ""), "")
            tasks.append(ObservedTask(
                slot=int(task.get("Slot") or 0),
                node=node,
                # Swarm keeps reporting the last state a lost node sent: it runs nothing we can count on.
                state="node-down" if node in down else status.get("State", "unknown"),
                desired=task.get("DesiredState", "unknown"),
                image=container.get("Image", ""),
                message=status.get("Err") or status.get("Message", ""),
                current=(container.get("Labels") or {}).get(LABEL_TASK_HASH) == want_hash,
                version=(container.get("Labels") or {}).get(LABEL_TASK_HASH, ""),
            ))
        update = row.get("UpdateStatus") or {}
        return ObservedService(
            site=labels.get(LABEL_SITE, "?"),
            service_id=row["ID"],
            replicas=int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)),
            config_hash=labels.get(LABEL_HASH, ""),
            config=config if isinstance(config, dict) else {},
            update_state=update.get("State", ""),
            update_message=update.get("Message", ""),
            update_started=update.get("StartedAt", ""),
            tasks=tuple(sorted(tasks, key=lambda t: (t.slot, t.desired != "running"))),
        )

    def engine_problem(self, node: str) -> str:
        """Empty when the node's own engine answers; Swarm notices a lost node only after heartbeats."""
        return self._ask_engine(node)[1]

    def _ask_engine(self, node: str, timeout: float = 2.0) -> tuple[dict[str, Any] | None, str]:
        """The node engine's `info`, or why it did not answer (bounded: a dead node costs `timeout`)."""
        url = self.engines.engines[node]
        try:
            client = self.engines.new_client(node, timeout)
        except ENGINE_ERRORS as exc:
            return None, f"engine at {url} not answering: {_short(exc)}"
        try:
            info: dict[str, Any] = client.info()
            return info, ""
        except ENGINE_ERRORS as exc:
            return None, f"engine at {url} not answering: {_short(exc)}"
        finally:
            client.close()

    # -- the swarm and its nodes -----------------------------------------------------------

    def init(self) -> None:
        address = self.addresses[self.spec.manager]
        self._call(f"initialising the swarm on {self.spec.manager}", self.manager.swarm.init,
                   advertise_addr=address, listen_addr=f"{address}:{SWARM_PORT}",
                   dispatcher_heartbeat_period=int(self.spec.heartbeat * _NS))

    def join(self, node: str) -> None:
        self.manager.swarm.reload()
        token = self.manager.swarm.attrs["JoinTokens"]["Worker"]
        address = self.addresses[node]
        self._call(f"joining {node}", self.engines.client(node).swarm.join,
                   remote_addrs=[f"{self.addresses[self.spec.manager]}:{SWARM_PORT}"], join_token=token,
                   advertise_addr=address, listen_addr=f"{address}:{SWARM_PORT}")
        wait_until(lambda: any(n.name == node and n.state == "ready" for n in self._nodes()), 30,
                   f"{node} to be ready in the swarm")
        # The entry it had before it left stays listed as down: remove it.
        ready = {n.node_id for n in self._nodes() if n.name == node}
        for row in self._call("listing nodes", self.manager.api.nodes):
            if row["Description"]["Hostname"] == node and row["ID"] not in ready and row["Status"]["State"] != "ready":
                self._call(f"removing the old entry of {node}", self.manager.api.remove_node, row["ID"], force=True)

    def _node_row(self, name: str) -> dict[str, Any]:
        node = next((n for n in self._nodes() if n.name == name), None)
        if node is None:
            raise RuntimeFailure(f"swarm: node {name} is not in the swarm")
        row: dict[str, Any] = self._call(f"inspecting node {name}", self.manager.api.inspect_node, node.node_id)
        return row

    def update_node(self, name: str, labels: Mapping[str, str] = {}, remove: tuple[str, ...] = (),
                    availability: str | None = None) -> None:
        row = self._node_row(name)
        spec = dict(row["Spec"])
        merged = dict(spec.get("Labels") or {})
        merged.update(labels)
        for key in remove:
            merged.pop(key, None)
        spec["Labels"] = merged
        if availability is not None:
            spec["Availability"] = availability
        self._call(f"updating node {name}", self.manager.api.update_node, row["ID"], row["Version"]["Index"], spec)

    # -- services --------------------------------------------------------------------------

    def check_image(self, image: str) -> None:
        """Is the image in its registry? Asked before anything changes (every node pulls it)."""
        try:
            self.manager.api.inspect_distribution(image)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"image {image} could not be pulled from its registry: {_short(exc)}") from None

    def _definition(self, fleet: str, spec: ServiceSpec) -> dict[str, Any]:
        env = dict(spec.env)
        # {{.Task.Slot}} is a Swarm template: each instance gets its slot number.
        env.update(PORT=str(spec.port), CARGOHOLD_SITE=spec.site, CARGOHOLD_INSTANCE="{{.Task.Slot}}")
        mounts = [docker.types.Mount(target=m.target, source=f"{spec.mount_root}/{m.source}", type="bind")
                  for m in spec.mounts]
        health = healthcheck_config(spec.health, spec.port)
        if health is not None and spec.mounts:
            # The storage guard inside the instance: a storage mount that dies under it (a lost
            # FUSE client) makes it unhealthy, Swarm replaces it, and the replacement cannot land
            # on that node (its bind source is missing on the empty mount point).
            health["test"] = ["CMD-SHELL", f"{mounts_answer(m.target for m in spec.mounts)} && "
                                           f"{{ {health['test'][1]}; }}"]
        container = docker.types.ContainerSpec(
            image=spec.image,
            env=[f"{k}={v}" for k, v in sorted(env.items())],
            mounts=mounts,
            user=spec.user,
            healthcheck=docker.types.Healthcheck(**health) if health else None,
            stop_grace_period=int(spec.stop_grace * _NS),
            init=True,
            labels={LABEL_TASK_HASH: spec.task_hash()},  # tells the new version's tasks from the old ones'
        )
        resources = None
        if spec.cpus is not None or spec.memory is not None:
            resources = docker.types.Resources(
                cpu_limit=int(spec.cpus * _NS) if spec.cpus is not None else None, mem_limit=spec.memory)
        task = docker.types.TaskTemplate(
            container,
            resources=resources,
            restart_policy=docker.types.RestartPolicy(condition="any", delay=_NS, max_attempts=0, window=0),
            placement=docker.types.Placement(constraints=list(spec.constraints), maxreplicas=1),
            networks=["host"],
        )
        policy = spec.update
        update = docker.types.UpdateConfig(
            parallelism=policy.parallelism, delay=int(policy.delay * _NS), failure_action=policy.failure_action,
            monitor=int(policy.monitor * _NS), max_failure_ratio=0, order=policy.order)
        rollback = docker.types.RollbackConfig(
            parallelism=policy.parallelism, delay=0, failure_action="pause", monitor=int(policy.monitor * _NS),
            max_failure_ratio=0, order=policy.order)
        return {
            "task_template": task,
            "name": service_name(fleet, spec.site),
            "labels": {LABEL_FLEET: fleet, LABEL_SITE: spec.site, LABEL_HASH: spec.config_hash(),
                       LABEL_TASK_HASH: spec.task_hash(),
                       LABEL_CONFIG: json.dumps(label_config(spec.config()), sort_keys=True)},
            "mode": docker.types.ServiceMode("replicated", replicas=spec.replicas),
            "update_config": update,
            "rollback_config": rollback,
            "endpoint_spec": docker.types.EndpointSpec(mode="dnsrr"),
        }

    def create(self, fleet: str, spec: ServiceSpec) -> None:
        self._call(f"creating the service of {spec.site}", self.manager.api.create_service,
                   **self._definition(fleet, spec))

    def update(self, fleet: str, spec: ServiceSpec, seen: ObservedService) -> None:
        row = self._call(f"inspecting the service of {spec.site}", self.manager.api.inspect_service, seen.service_id)
        definition = self._definition(fleet, spec)
        if seen.config_hash == spec.config_hash():
            # Same spec, update paused half-way: a new ForceUpdate value makes Swarm redeploy every task.
            force = int(row["Spec"]["TaskTemplate"].get("ForceUpdate", 0)) + 1
            definition["task_template"]["ForceUpdate"] = force
        self._call(f"updating the service of {spec.site}", self.manager.api.update_service, seen.service_id,
                   row["Version"]["Index"], **definition)

    def remove(self, seen: ObservedService) -> None:
        self._call(f"removing the service of {seen.site}", self.manager.api.remove_service, seen.service_id)

    placeable = staticmethod(placeable)

    @classmethod
    def expected_running(cls, seen: ObservedService, swarm: ObservedSwarm) -> int:
        """How many instances can run now: the replicas, or fewer when fewer nodes can take one."""
        constraints = seen.config.get("placement")
        if not isinstance(constraints, list):
            return seen.replicas
        return min(seen.replicas, len(cls.placeable([str(c) for c in constraints], swarm)))

    def wait_rollouts(self, fleet: str, rollouts: Sequence[Rollout],
                      watch: Callable[[dict[str, tuple[ObservedTask, ...]]], None] | None = None) -> None:
        wait_rollouts(lambda: self.observe(fleet), rollouts, watch)

    def wait_moved_off(self, fleet: str, node: str, timeout: float) -> None:
        """After a drain: no task of the fleet runs on `node`, and every service is back to full count."""
        def done() -> bool:
            swarm = self.observe(fleet)
            for seen in swarm.services:
                if any(t.node == node and t.desired == "running" for t in seen.tasks):
                    return False
                if seen.update_state == "updating" or len(seen.running()) < self.expected_running(seen, swarm):
                    return False
            return True

        start = time.monotonic()
        try:
            wait_until(done, timeout, f"the instances on {node} to move to other nodes", interval=0.25)
        except Timeout as exc:
            raise RuntimeFailure(f"{exc} (after {time.monotonic() - start:.0f}s)") from None

