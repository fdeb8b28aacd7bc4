"""GlusterFS: a lost mount, adopting a hand-made volume, and bad storage specs (real glusterd)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import docker
from gluster_helpers import GlusterLab

from cargohold.process import pids_naming, stop_pid, unmount_all_below
from conftest import run_cli


def fleet_variant(gluster: GlusterLab, name: str, **storage: object) -> str:
    data = json.loads(gluster.fleet_file.read_text())
    data["storage"].update(storage)
    data["sites"] = []
    data["fleet"] = name
    data.pop("frontdoor", None)
    path = gluster.lab.home / f"{name}.yml"
    path.write_text(json.dumps(data))
    return str(path)


def volumes(gluster: GlusterLab) -> list[str]:
    out = gluster.cli.xml("volume", "list")
    return [line.split("<volume>")[1].split("</volume>")[0] for line in out.splitlines() if "<volume>" in line]


def test_missing_mount_is_reported_and_instances_never_start_without_it(gluster: GlusterLab):
    fleet = str(gluster.fleet_file)
    mountpoint = gluster.mount(2)
    client = docker.DockerClient(base_url=gluster.lab.engine.url, version="auto", timeout=60)
    try:
        victim = client.containers.get("lab_www.example.com_2")
        victim.remove(force=True)
        unmount_all_below(mountpoint)
        for pid in pids_naming(gluster.lab.web_home(2)):  # the FUSE client does not always exit on umount
            stop_pid(pid, grace=5)

        report = run_cli("-f", fleet, "status", "--json", "--no-usage")
        assert report.code == 1
        assert f"node web2: storage not mounted at {mountpoint}" in report.json()["degraded"]
        plan = run_cli("-f", fleet, "plan", "--json").json()
        assert ("create", "mount web2") in {(a["kind"], a["target"]) for a in plan["actions"]}

        # The mount point cannot be mounted (a file sits there): web2 gets no instance.
        mountpoint.rmdir()
        mountpoint.write_text("not a directory")
        result = run_cli("-f", fleet, "apply")
        assert result.code == 1 and "web2" in result.err
        assert [c.name for c in client.containers.list(all=True) if c.name.startswith("lab_")] == [
            "lab_www.example.com_1"]

        mountpoint.unlink()
        result = run_cli("-f", fleet, "apply")
        assert result.code == 0, result.err
        assert client.containers.get("lab_www.example.com_2").status == "running"
        assert run_cli("-f", fleet, "status", "--no-usage").code == 0
    finally:
        client.close()
        if mountpoint.is_file():
            mountpoint.unlink()
        run_cli("-f", fleet, "apply")


def test_adopting_a_hand_made_volume_changes_nothing_destructive(gluster: GlusterLab, tmp_path):
    bricks = [f"{s.address}:{s.brick_root / 'adopt'}" for s in gluster.servers]
    gluster.cli.call("volume", "create", "adopt", "replica", "3", "arbiter", "1", *bricks)
    gluster.cli.call("volume", "start", "adopt")
    volume_id = gluster.cli.xml("volume", "info", "adopt").split("<id>")[1].split("</id>")[0]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["glusterfs", f"--volfile-server={gluster.servers[0].address}", "--volfile-id=adopt",
                    f"--pid-file={tmp_path}/pid", f"--log-file={tmp_path}/log", str(mnt)], check=True, timeout=60)
    (mnt / "precious.txt").write_text("made by hand")
    unmount_all_below(mnt)
    stop_pid(int((tmp_path / "pid").read_text()), grace=5)

    data = json.loads(gluster.fleet_file.read_text())
    data["storage"]["volume"] = "adopt"
    data["storage"]["servers"] = [{**s, "brick": s["brick"].replace("/web", "/adopt")}
                                  for s in data["storage"]["servers"]]
    for node in data["nodes"]:
        node["storage_root"] = node["storage_root"].replace("/storage", "/adopt")
        node["state_dir"] = node["state_dir"] + "/adopt"
    data["sites"] = []
    data["fleet"] = "adopt"
    data.pop("frontdoor", None)
    path = gluster.lab.home / "adopt.yml"
    path.write_text(json.dumps(data))
    try:
        plan = run_cli("-f", str(path), "plan", "--json").json()
        kinds = {(a["kind"], a["target"].split(" option ")[0]) for a in plan["actions"]}
        assert ("create", "volume adopt") not in kinds and not any(k == "remove" for k, _ in kinds)
        assert ("create", "mount web1") in kinds and ("update", "volume adopt") in kinds
        # An adopted volume is not claimed silently: apply converges the cluster (options, mounts) but
        # says the root has no marker until `storage init` is run on purpose.
        result = run_cli("-f", str(path), "apply")
        assert result.code == 1 and "storage init" in result.err
        assert (gluster.lab.web_home(1) / "adopt" / "precious.txt").read_text() == "made by hand"
        assert run_cli("-f", str(path), "storage", "init", "--force").code == 0
        result = run_cli("-f", str(path), "apply")
        assert result.code == 0, result.err
        assert run_cli("-f", str(path), "plan", "--json").json()["changes"] == 0
        assert (gluster.lab.web_home(1) / "adopt" / "precious.txt").read_text() == "made by hand"
        assert gluster.cli.xml("volume", "info", "adopt").split("<id>")[1].split("</id>")[0] == volume_id

        # The same name with another layout: refused, nothing touched.
        other = json.loads(path.read_text())
        other["storage"]["servers"] = [other["storage"]["servers"][i] for i in (1, 0, 2)]
        other_path = gluster.lab.home / "adopt-other.yml"
        other_path.write_text(json.dumps(other))
        refused = run_cli("-f", str(other_path), "apply")
        assert refused.code == 1 and "another layout" in refused.err
    finally:
        gluster.remove_volume("adopt")


def test_bad_storage_specs_are_refused_before_anything_is_created(gluster: GlusterLab, tmp_path):
    before = volumes(gluster)
    unknown = run_cli("-f", fleet_variant(gluster, "bad-option", volume="bad1",
                                          options={"network.no-such-thing": "5"}), "apply")
    assert unknown.code == 2 and "'network.no-such-thing' is not a GlusterFS volume option" in unknown.err

    data = json.loads(gluster.fleet_file.read_text())
    servers = [{**s, "brick": f"/var/tmp/cargohold-test-brick-{i}"} for i, s in enumerate(data["storage"]["servers"])]
    rootfs = run_cli("-f", fleet_variant(gluster, "bad-rootfs", volume="bad2", servers=servers), "apply")
    assert rootfs.code == 2 and "root filesystem" in rootfs.err

    gone = [{**s, "glusterd_socket": str(tmp_path / f"none-{i}.socket")}
            for i, s in enumerate(data["storage"]["servers"])]
    unreachable = run_cli("-f", fleet_variant(gluster, "bad-unreachable", volume="bad3", servers=gone), "apply")
    assert unreachable.code == 1 and "no storage server answered" in unreachable.err

    assert volumes(gluster) == before
    assert not any(p.name.startswith("cargohold-test-brick") for p in Path("/var/tmp").iterdir())


def test_site_quota_is_a_glusterfs_directory_quota(gluster: GlusterLab):
    data = json.loads(gluster.fleet_file.read_text())
    site = {**data["sites"][0], "domain": "quota.example.com", "port": 22100, "instances": 1, "quota": "1MiB",
            "aliases": []}
    data["sites"].append(site)
    path = gluster.lab.home / "quota.yml"
    path.write_text(json.dumps(data))
    try:
        result = run_cli("-f", str(path), "apply")
        assert result.code == 0, result.err
        assert run_cli("-f", str(path), "plan", "--json").json()["changes"] == 0
        report = run_cli("-f", str(path), "status", "--json").json()
        quotas = {q["path"]: q["limit"] for q in report["cluster"]["quotas"]}
        assert quotas == {"files/quota.example.com": 2**20, "logs/quota.example.com": 2**20}
        target = gluster.mount(1) / "files" / "quota.example.com"
        written, error = 0, None
        try:
            for i in range(20):
                with open(target / f"big-{i}", "wb") as fh:
                    fh.write(b"x" * 256 * 1024)
                    fh.flush()
                    os.fsync(fh.fileno())
                written += 256 * 1024
        except OSError as exc:
            error = exc
        assert error is not None and error.errno == errno.EDQUOT, error
        assert written <= 2**20 + 256 * 1024
    finally:
        for f in (gluster.mount(1) / "files" / "quota.example.com").glob("big-*"):
            f.unlink()
        assert run_cli("-f", str(gluster.fleet_file), "apply").code == 0
