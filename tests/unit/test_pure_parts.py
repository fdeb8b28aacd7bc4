"""The pure parts below the seam, each on its own: quota planning, the front-door plan and its
renderer's hash line, the HAProxy config parser, and the symlink-safe directory operations."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from worlds import converged_door

from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.frontdoor.config import RENDERING, render, rendered_hash
from cargohold.frontdoor.haproxy import server_lines, strip_servers
from cargohold.model import EnableQuota, Observed, ObservedCluster, SetQuota, StorageState, SyncFrontDoor, VolumeInfo
from cargohold.plan.frontdoor import frontdoor_actions, servers_of
from cargohold.plan.gluster import quota_actions
from cargohold.storage.safepath import UnsafePath, ensure_dir_below, lstat_below, remove_tree_below, usage_below

SERVERS = [{"name": f"s{i}", "address": f"10.0.0.{i}", "brick": "/bricks/web"} for i in (1, 2, 3)]


def gluster_desired(quota: str | None = None):
    site = {"domain": "a.example.com", "image": "demo:1", "port": 20000, "writable": {"/w": "files"},
            **({"quota": quota} if quota else {})}
    return desired_state(Fleet.model_validate({
        "fleet": "t", "nodes": [{"name": "web1", "engine": "unix:///run/d.sock", "address": "10.0.1.1"}],
        "storage": {"backend": "glusterfs", "root": "/storage", "volume": "web", "servers": SERVERS},
        "sites": [site],
    }))


def started(options: dict[str, str]) -> VolumeInfo:
    return VolumeInfo("web", "Started", 3, 0, (), options)


# -- quotas --------------------------------------------------------------------------------------


def test_quotas_enable_the_feature_first_then_limit_each_directory_after_it_exists():
    d = gluster_desired("1GiB")
    assert d.cluster is not None and d.cluster.quotas == (("files/a.example.com", 1 << 30),)
    actions = quota_actions(d.cluster, ObservedCluster(None, "10.0.0.1", volume=started({})),
                            {"dir files/a.example.com"})
    assert [type(a.op) for a in actions] == [EnableQuota, SetQuota]
    limit = actions[1]
    assert limit.op == SetQuota("files/a.example.com", 1 << 30)
    assert set(limit.after) == {"volume web quota", "dir files/a.example.com"}


def test_quotas_already_right_plan_nothing_and_a_changed_limit_is_one_action():
    d = gluster_desired("1GiB")
    assert d.cluster is not None
    on = started({"features.quota": "on"})
    assert quota_actions(d.cluster, ObservedCluster(None, "10.0.0.1", volume=on,
                                                    quotas=(("files/a.example.com", 1 << 30),)), set()) == []
    [action] = quota_actions(d.cluster, ObservedCluster(None, "10.0.0.1", volume=on,
                                                        quotas=(("files/a.example.com", 1 << 20),)), set())
    assert action.op == SetQuota("files/a.example.com", 1 << 30) and action.after == ()
    assert f"{1 << 20} limit -> {1 << 30} bytes" in action.reason


def test_no_quota_change_while_a_server_does_not_answer():
    d = gluster_desired("1GiB")
    assert d.cluster is not None
    seen = ObservedCluster(None, "10.0.0.1", volume=started({}), unreachable=(("s3", "does not answer"),))
    assert quota_actions(d.cluster, seen, set()) == []


# -- the front door --------------------------------------------------------------------------------


def docker_fleet(instances: int = 2):
    return desired_state(Fleet.model_validate({
        "fleet": "t", "storage": {"backend": "local", "root": "/srv"},
        "nodes": [{"name": f"web{i}", "engine": f"unix:///run/w{i}.sock", "address": f"10.0.0.{i}"} for i in (1, 2)],
        "frontdoor": {"http": "127.0.0.1:18000"},
        "sites": [{"domain": "a.example.com", "image": "demo:1", "port": 20000, "instances": instances,
                   "writable": {"/w": "files"}}],
    }))


def world(desired, doors) -> Observed:
    return Observed((), (), StorageState("/srv", True), frontdoors=tuple(doors))


def test_every_node_routes_to_every_instance_of_the_fleet_file():
    d = docker_fleet(3)
    assert [f.node for f in d.frontdoors] == ["web1", "web2"]
    assert servers_of(d.frontdoors[0].config.sites) == {
        "a.example.com": ("i1 10.0.0.1:20000", "i2 10.0.0.2:20001", "i3 10.0.0.1:20002")}
    assert d.frontdoors[0].config.sites == d.frontdoors[1].config.sites


def test_front_doors_running_what_the_fleet_asks_for_plan_nothing_even_while_instances_change():
    d = docker_fleet()
    assert frontdoor_actions(d, world(d, [converged_door(f) for f in d.frontdoors]), ("instance a#1",)) == []


def test_a_scale_up_names_the_new_server_and_waits_for_the_instances():
    before, after = docker_fleet(2), docker_fleet(3)
    doors = [converged_door(f) for f in before.frontdoors]
    actions = frontdoor_actions(after, world(after, doors), ("instance a.example.com#3",))
    assert [a.target for a in actions] == ["frontdoor web1", "frontdoor web2"]
    assert all(isinstance(a.op, SyncFrontDoor) and a.after == ("instance a.example.com#3",) for a in actions)
    assert actions[0].reason == "a.example.com: +i3 10.0.0.1:20002"


def test_a_settings_change_alone_says_so():
    d = docker_fleet()
    door = converged_door(d.frontdoors[0])
    [action] = frontdoor_actions(d, world(d, [dataclasses.replace(door, config_hash="f" * 16),
                                              converged_door(d.frontdoors[1])]), ())
    assert action.target == "frontdoor web1" and "settings changed" in action.reason


def test_the_rendered_configuration_carries_the_hash_it_was_rendered_from():
    config = docker_fleet().frontdoors[0].config
    text = render(config)
    assert rendered_hash(text) == config.config_hash()
    assert rendered_hash(text.replace(f"config {RENDERING}:", "config 0:")) == ""  # another rendering
    assert rendered_hash("global\n    daemon\n") == ""
    servers = server_lines(text)
    assert servers == {("a.example.com", "i1"): "10.0.0.1:20000", ("a.example.com", "i2"): "10.0.0.2:20001"}
    # Two renderings that differ only in servers differ only in server lines (and the hash line):
    # HAProxy changes them through its runtime API, with no reload.
    fewer = render(docker_fleet(1).frontdoors[0].config)
    assert strip_servers(fewer) == strip_servers(text) and rendered_hash(fewer) != rendered_hash(text)


# -- symlink-safe directory operations -----------------------------------------------------------------


def test_directories_are_made_below_the_root_with_owner_and_mode(tmp_path: Path):
    ensure_dir_below(str(tmp_path), "files/a.example.com", os.getuid(), os.getgid(), 0o750)
    st = lstat_below(str(tmp_path), "files/a.example.com")
    assert st is not None and st.st_mode & 0o777 == 0o750
    (tmp_path / "files/a.example.com/x.bin").write_bytes(b"12345")
    assert usage_below(str(tmp_path), "files/a.example.com") == (5, 1)
    assert remove_tree_below(str(tmp_path), "files/a.example.com") is True
    assert lstat_below(str(tmp_path), "files/a.example.com") is None
    assert remove_tree_below(str(tmp_path), "files/a.example.com") is False


@pytest.mark.parametrize("relpath", ["", "../etc", "files/../../etc", "/etc", "files//a", "files/./a", "a\0b"])
def test_a_path_that_is_not_plain_and_relative_is_refused(tmp_path: Path, relpath: str):
    with pytest.raises(UnsafePath):
        lstat_below(str(tmp_path), relpath)


def test_a_symlink_anywhere_on_the_way_is_never_followed(tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "a.example.com").mkdir(parents=True)
    (outside / "a.example.com" / "keep.txt").write_text("not yours")
    root = tmp_path / "root"
    root.mkdir()
    (root / "files").symlink_to(outside)
    with pytest.raises(UnsafePath, match="symlink"):
        ensure_dir_below(str(root), "files/a.example.com", 0, 0, 0o700)
    with pytest.raises(UnsafePath, match="symlink"):
        remove_tree_below(str(root), "files/a.example.com")
    (root / "logs").mkdir()
    (root / "logs" / "a.example.com").symlink_to(outside / "a.example.com")
    with pytest.raises(UnsafePath, match="not a directory"):
        remove_tree_below(str(root), "logs/a.example.com")
    assert usage_below(str(root), "logs/a.example.com") == (0, 0)
    assert (outside / "a.example.com" / "keep.txt").read_text() == "not yours"
    assert oct((outside / "a.example.com").stat().st_mode & 0o777) != oct(0o700)


def test_with_swarm_every_node_that_may_run_a_site_is_its_server_by_node_name():
    d = desired_state(Fleet.model_validate({
        "fleet": "t", "runtime": "swarm", "swarm": {"create": True}, "storage": {"backend": "local", "root": "/srv"},
        "nodes": [{"name": f"web{i}", "engine": f"unix:///run/w{i}.sock", "address": f"10.0.0.{i}",
                   **({"labels": {"zone": "a"}} if i < 3 else {})} for i in (1, 2, 3)],
        "frontdoor": {"http": "127.0.0.1:18000"},
        "sites": [{"domain": "a.example.com", "image": "r:5000/a:1", "port": 20000, "writable": {"/w": "files"},
                   "placement": {"zone": "a"}},
                  {"domain": "b.example.com", "image": "r:5000/b:1", "port": 20010, "writable": {"/w": "files"}}],
    }))
    assert servers_of(d.frontdoors[0].config.sites) == {
        "a.example.com": ("web1 10.0.0.1:20000", "web2 10.0.0.2:20000"),
        "b.example.com": ("web1 10.0.0.1:20010", "web2 10.0.0.2:20010", "web3 10.0.0.3:20010")}
