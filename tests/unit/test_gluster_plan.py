"""The GlusterFS side of the pure plan: every option (auth.allow above all) is set before a new
volume first starts; TLS is never switched under a started volume."""

from __future__ import annotations

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.model import Brick, ObservedCluster, Peer, VolumeInfo
from cargohold.plan.gluster import cluster_actions

SERVERS = [{"name": f"s{i}", "address": f"10.0.0.{i}", "brick": "/bricks/web"} for i in (1, 2, 3)]


def desired(**storage: object):
    fleet = Fleet.model_validate({
        "fleet": "t", "nodes": [{"name": "web1", "engine": "unix:///run/d.sock", "address": "10.0.1.1"}],
        "storage": {"backend": "glusterfs", "root": "/storage", "volume": "web", "servers": SERVERS, **storage},
    })
    return desired_state(fleet)


def test_a_new_volume_starts_only_after_every_option_is_set():
    d = desired()
    assert d.cluster is not None
    seen = ObservedCluster(None, "10.0.0.1", tuple(Peer(f"10.0.0.{i}", True) for i in (2, 3)))
    actions = cluster_actions(d.cluster, d.node_storage, seen).actions
    targets = [a.target for a in actions]
    start = targets.index("volume web started")
    options = [i for i, t in enumerate(targets) if " option " in t]
    assert options and max(options) < start, targets
    assert "volume web option auth.allow" in targets[:start]
    assert set(actions[start].after) >= {targets[i] for i in options}
    auth = dict(d.cluster.options)["auth.allow"]
    assert auth.split(",") == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1"]


def test_tls_is_not_switched_under_a_started_volume():
    tls = {"ca": "/etc/g/ca.pem", "cert": "/etc/g/cert.pem", "key": "/etc/g/key.pem", "allow": ["web"]}
    d = desired(tls=tls)
    assert d.cluster is not None
    bricks = tuple(Brick(s["address"], s["brick"], i == 2) for i, s in enumerate(SERVERS))
    volume = VolumeInfo("web", "Started", 3, 1, bricks, options=dict(d.cluster.options) | {"client.ssl": "off",
                                                                                          "server.ssl": "off"})
    seen = ObservedCluster(None, "10.0.0.1", tuple(Peer(f"10.0.0.{i}", True) for i in (2, 3)), volume)
    draft = cluster_actions(d.cluster, d.node_storage, seen)
    actions, blockers = draft.actions, draft.blockers
    assert not any("ssl" in a.target and a.target.endswith(("client.ssl", "server.ssl")) for a in actions)
    assert len(blockers) == 2 and all("gluster volume stop web" in b for b in blockers), blockers
