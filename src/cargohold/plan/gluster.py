"""The storage side of the pure diff for GlusterFS: what the cluster lacks, as Actions. No I/O."""

from __future__ import annotations

from cargohold.model import (
    Action,
    ClusterSpec,
    CreateVolume,
    EnableQuota,
    MountStorage,
    NodeStorage,
    ObservedCluster,
    ProbePeer,
    SetQuota,
    SetVolumeOption,
    StartBricks,
    StartVolume,
    WriteMarker,
)
from cargohold.plan.draft import Draft

VOLUME = "volume"


def volume_target(spec: ClusterSpec) -> str:
    return f"volume {spec.volume}"


def mount_target(node: str) -> str:
    return f"mount {node}"


def cluster_actions(spec: ClusterSpec, nodes: tuple[NodeStorage, ...], seen: ObservedCluster) -> Draft:
    draft = Draft()
    _cluster(spec, nodes, seen, draft)
    return draft


def _cluster(spec: ClusterSpec, nodes: tuple[NodeStorage, ...], seen: ObservedCluster, draft: Draft) -> None:
    blockers, warnings, actions = draft.blockers, draft.warnings, draft.actions
    if seen.error is not None:
        blockers.append(f"storage: {seen.error}")
        return
    if seen.unreachable:
        # The volume keeps serving (quorum holds); only cluster changes wait for every server. Mounts
        # are a client matter and go ahead.
        down = "; ".join(f"{name}: {why}" for name, why in seen.unreachable)
        warnings.append(f"storage servers not answering, cluster changes wait: {down}")
        actions += _mount_actions(nodes, seen, after=())
        return
    known = {p.hostname for p in seen.peers} | {seen.answered_by}
    for server in spec.servers:
        if server.address not in known:
            actions.append(Action("create", f"peer {server.address}", "not in the trusted pool",
                                  ProbePeer(server.address)))
    peers = tuple(a.target for a in actions)
    vol = volume_target(spec)
    want_bricks = [(s.address, s.brick) for s in spec.servers]
    created = False
    if seen.volume is None:
        layout = f"replica {spec.replica}" + (f" arbiter {spec.arbiter}" if spec.arbiter else "")
        actions.append(Action("create", vol, f"missing ({layout}, {len(spec.servers)} bricks)", CreateVolume(), peers))
        created = True
    else:
        have_bricks = [(b.address, b.path) for b in seen.volume.bricks]
        if (seen.volume.replica, seen.volume.arbiter, have_bricks) != (spec.replica, spec.arbiter, want_bricks):
            blockers.append(
                f"{vol} exists with another layout (replica {seen.volume.replica}, arbiter "
                f"{seen.volume.arbiter}, bricks {', '.join(f'{a}:{p}' for a, p in have_bricks)}); cargohold "
                "adopts a volume only with the fleet file's layout and never recreates one"
            )
            return
        if seen.volume.status != "Started":
            actions.append(Action("update", f"{vol} started", f"volume is {seen.volume.status}",
                                  StartVolume()))
        else:
            offline = [b.name for b in seen.bricks if not b.online]
            missing = [f"{a}:{p}" for a, p in want_bricks if not any(b.name == f"{a}:{p}" for b in seen.bricks)]
            if offline or missing:
                actions.append(Action("update", f"{vol} bricks", f"offline: {', '.join(offline + missing)}",
                                      StartBricks(tuple(offline + missing))))
    have_options = {} if seen.volume is None else seen.volume.options
    option_targets = []
    for name, value in spec.options:
        old = have_options.get(name)
        if old != value and not created and name in ("client.ssl", "server.ssl") and seen.volume is not None \
                and seen.volume.status == "Started" and (old or "off") != value:
            # Bricks and clients take the switch only when they reconnect: some would speak TLS and
            # some not, and every mount would lose its bricks. Not done under running sites.
            blockers.append(f"{vol}: {name} {old or 'off'} -> {value} needs the volume stopped and every web "
                            f"node's mount made again: stop the sites, `gluster volume stop "
                            f"{spec.volume}`, then apply")
            continue
        if old != value:
            after = (vol,) if created else ()
            actions.append(Action("update", f"{vol} option {name}", f"{old or 'default'} -> {value}",
                                  SetVolumeOption(name, value), after))
            option_targets.append(f"{vol} option {name}")
    if created:
        # Started only once every option is set: auth.allow above all, so a failing `volume set`
        # never leaves a started volume open to every client.
        actions.append(Action("update", f"{vol} started", "created, not started; options set first",
                              StartVolume(), (vol, *option_targets)))
    # Mount after the options: a client takes network.ping-timeout when it connects, and a mount made
    # before the option was set kept the 42 s default here (measured: a 42 s stall).
    actions += _mount_actions(nodes, seen, after=(f"{vol} started",) if created else ())
    if created:
        # The marker is written through a mount on this machine (the management mount).
        first_mount = mount_target(next((n for n in nodes if n.ssh is None), nodes[0]).node)
        actions.append(Action("create", "storage marker", "new volume: write the fleet's marker at its root",
                              WriteMarker(), (first_mount,)))


def _mount_actions(nodes: tuple[NodeStorage, ...], seen: ObservedCluster, after: tuple[str, ...]) -> list[Action]:
    mounted = {m.node for m in seen.mounts if m.mounted}
    return [
        Action("create", mount_target(node.node), f"volume not mounted at {node.root}",
               MountStorage(node.node), after)
        for node in nodes
        if node.node not in mounted
    ]


def quota_actions(spec: ClusterSpec, seen: ObservedCluster, dir_targets: set[str]) -> list[Action]:
    if not spec.quotas or seen.error is not None or seen.unreachable:
        return []
    actions: list[Action] = []
    enable: tuple[str, ...] = ()
    if seen.volume is None or seen.volume.options.get("features.quota") != "on":
        enable = (f"{volume_target(spec)} quota",)
        actions.append(Action("update", enable[0], "directory quotas are off", EnableQuota()))
    have = dict(seen.quotas)
    for relpath, limit in spec.quotas:
        if have.get(relpath) != limit:
            creates_dir = (f"dir {relpath}",) if f"dir {relpath}" in dir_targets else ()
            after = enable + creates_dir
            old = have.get(relpath)
            actions.append(Action("update", f"quota {relpath}", f"{old if old else 'no'} limit -> {limit} bytes",
                                  SetQuota(relpath, limit), after))
    return actions
