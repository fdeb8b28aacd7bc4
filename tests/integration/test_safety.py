"""Bad input changes nothing; a wrong storage root starts nothing; data is deleted only on purpose."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from gluster_helpers import GlusterLab

from badfleets import bad_fleets
from cargohold.runtime.docker import LABEL_FLEET
from conftest import FleetFixture, demo_site, run_cli
from http_helpers import upload

DOMAIN = "www.example.com"


def snapshot(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("case", bad_fleets(), ids=lambda c: c.id)
def test_bad_fleet_file_exits_with_a_clear_message_and_changes_nothing(case, fleet: FleetFixture, gluster: GlusterLab,
                                                                       monkeypatch, tmp_path):
    """Each file of the corpus (tests/fleets/bad, data: add a case without Python) against the real
    lab: its GlusterFS servers and volume, its engine, a storage root, a front-door state dir."""
    state = tmp_path / "state"
    env = {"T_ROOT": str(fleet.root), "T_ENGINE": fleet.engine_url, "T_STATE": str(state)}
    for i, server in enumerate(gluster.servers, start=1):
        env.update({f"T_S{i}": server.address, f"T_BRICK{i}": str(server.brick_root / "web"),
                    f"T_SOCK{i}": str(server.socket)})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (fleet.root / ".cargohold-fleet.json").write_text('{"fleet": "t"}')
    before = snapshot(fleet.root)
    containers = sorted(c.id for c in fleet.client.containers.list(all=True))
    options = gluster.cli_any().volume_info("web").options
    result = run_cli("-f", str(case.path), "apply")
    assert result.code == case.exit_code, result.err
    assert case.expect in result.err
    assert result.err.startswith("error: ") and "Traceback" not in result.err
    # Nothing changed: no directory, no container, no front-door configuration, no volume option.
    assert snapshot(fleet.root) == before
    assert sorted(c.id for c in fleet.client.containers.list(all=True)) == containers
    assert not state.exists()
    assert gluster.cli_any().volume_info("web").options == options


def test_missing_fleet_file_is_bad_input(tmp_path):
    result = run_cli("-f", str(tmp_path / "nope.yml"), "plan")
    assert result.code == 2 and "no such fleet file" in result.err


def test_apply_refuses_when_the_storage_root_is_missing(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21100)])
    shutil.rmtree(fleet.root)
    result = fleet.cli("apply")
    assert result.code == 1
    assert "does not exist" in result.err and "nothing was changed" in result.err
    assert fleet.containers() == []
    assert not fleet.root.exists(), "apply must not create a storage root"


def test_apply_refuses_when_the_root_is_replaced_by_an_empty_directory(fleet: FleetFixture):
    """A lost mount leaves an empty mount point: uploads must not go there."""
    fleet.write([demo_site(DOMAIN, 21110)])
    fleet.cli("storage", "init")
    assert fleet.cli("apply").code == 0
    for c in fleet.containers():
        c.remove(force=True)
    shutil.rmtree(fleet.root)
    fleet.root.mkdir()  # the "unmounted" mount point

    plan = fleet.cli("plan")
    assert plan.code == 1 and "blocked" in plan.out and "marker" in plan.out
    result = fleet.cli("apply")
    assert result.code == 1 and "no .cargohold-fleet.json marker" in result.err
    assert fleet.containers() == []
    assert list(fleet.root.iterdir()) == [], "nothing may be created on an uninitialised root"


def test_a_root_of_another_fleet_is_refused(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21120)])
    (fleet.root / ".cargohold-fleet.json").write_text('{"fleet": "someone-else"}')
    result = fleet.cli("apply")
    assert result.code == 1 and "marker says fleet 'someone-else'" in result.err
    init = fleet.cli("storage", "init")
    assert init.code == 2 and "belongs to fleet 'someone-else'" in init.err
    assert fleet.containers() == []


def test_storage_init_refuses_a_non_empty_root_without_force(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21125)])
    (fleet.root / "files").mkdir()
    assert fleet.cli("storage", "init").code == 2
    assert fleet.cli("storage", "init", "--force").code == 0


def test_site_directory_symlinked_out_of_the_root_is_never_followed(fleet: FleetFixture, tmp_path):
    fleet.write([demo_site(DOMAIN, 21130)])
    fleet.cli("storage", "init")
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    (fleet.root / "files").mkdir()
    os.symlink(outside, fleet.root / "files" / DOMAIN)

    plan = fleet.cli("plan")
    assert plan.code == 1 and "symlink" in plan.out
    result = fleet.cli("apply")
    assert result.code == 1 and "symlink" in result.err
    st = os.stat(outside)
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o700"), "the link target must not be chowned"
    assert fleet.containers() == []


def test_purge_deletes_only_that_site_and_only_when_confirmed(fleet: FleetFixture):
    keep, gone = DOMAIN, "old.example.com"
    fleet.write([demo_site(keep, 21140), demo_site(gone, 21150)])
    fleet.cli("storage", "init")
    assert fleet.cli("apply").code == 0
    assert upload("http://127.0.0.1:21140", "a.txt", b"a") == 201
    assert upload("http://127.0.0.1:21150", "b.txt", b"b") == 201

    refused = fleet.cli("site", "purge", gone, "--yes")
    assert refused.code == 2 and "still in the fleet file" in refused.err

    fleet.write([demo_site(keep, 21140)])
    assert fleet.cli("apply").code == 0
    unconfirmed = fleet.cli("site", "purge", gone)  # no terminal, no --yes
    assert unconfirmed.code == 2 and "without confirmation" in unconfirmed.err
    assert (fleet.root / "files" / gone / "b.txt").exists()

    hostile = fleet.cli("site", "purge", "../files", "--yes")
    assert hostile.code == 2 and "not a valid domain" in hostile.err
    hostile = fleet.cli("site", "purge", f"{gone}\n", "--yes")
    assert hostile.code == 2 and "not a valid domain" in hostile.err

    # A directory kept under the root with the site's name, not created by cargohold: never purged.
    (fleet.root / "backups" / gone).mkdir(parents=True)
    (fleet.root / "backups" / gone / "keep.tar").write_bytes(b"backup")
    # A root whose marker is another fleet's: nothing is deleted.
    marker = fleet.root / ".cargohold-fleet.json"
    ours = marker.read_text()
    marker.write_text('{"fleet": "someone-else"}')
    other = fleet.cli("site", "purge", gone, "--yes")
    assert other.code == 1 and "someone-else" in other.err and "nothing was deleted" in other.err
    assert (fleet.root / "files" / gone / "b.txt").exists()
    marker.write_text(ours)

    done = fleet.cli("site", "purge", gone, "--yes")
    assert done.code == 0, done.err
    assert not (fleet.root / "files" / gone).exists() and not (fleet.root / "logs" / gone).exists()
    assert (fleet.root / "backups" / gone / "keep.tar").read_bytes() == b"backup"
    assert (fleet.root / "files" / keep / "a.txt").read_bytes() == b"a"
    assert (fleet.root / "logs" / keep).is_dir()


def test_status_lists_orphans_labelled_for_the_fleet(fleet: FleetFixture):
    fleet.write([demo_site(DOMAIN, 21160)])
    fleet.cli("storage", "init")
    assert fleet.cli("apply").code == 0
    fleet.client.containers.run(
        "cargohold-demo:1", ["sleep", "60"], detach=True, name=f"{fleet.name}-stray", network_mode="none",
        labels={LABEL_FLEET: fleet.name, "cargohold.site": "stray.example.com", "cargohold.instance": "1"},
    )
    status = fleet.cli("status", "--json")
    report = status.json()
    assert [o["site"] for o in report["orphans"]] == ["stray.example.com"]
    # status is degraded exactly when the plan is not empty: it says what apply would do.
    assert status.code == 1 and "plan: remove instance stray.example.com#1: site not in the fleet file " \
        "(its files are kept)" in report["degraded"], report["degraded"]
    table = fleet.cli("status")
    assert "Orphans" in table.out and "stray.example.com" in table.out
    plan = fleet.cli("plan", "--json").json()
    assert ("remove", "instance stray.example.com#1") in {(a["kind"], a["target"]) for a in plan["actions"]}


def test_env_values_never_reach_labels_and_env_file_is_read_only_when_private(fleet: FleetFixture, tmp_path):
    secret_file = tmp_path / "www.env"
    secret_file.write_text("# database\nDB_PASSWORD=from-the-env-file-77\n")
    secret_file.chmod(0o644)
    site = demo_site(DOMAIN, 21170, env={"API_TOKEN": "in-the-fleet-file-55"}, env_file=str(secret_file))
    fleet.write([site])
    for command in ("plan", "apply"):
        refused = fleet.cli(command)
        assert refused.code == 2 and "sites[0].env_file" in refused.err and "chmod 600" in refused.err
    assert fleet.containers() == [] and list(fleet.root.iterdir()) == []
    secret_file.chmod(0o600)
    assert fleet.cli("storage", "init").code == 0
    result = fleet.cli("apply")
    assert result.code == 0, result.err
    containers = fleet.containers()
    assert len(containers) == 2
    for c in containers:
        labels = json.dumps(c.labels)
        assert "from-the-env-file-77" not in labels and "in-the-fleet-file-55" not in labels, labels
        assert "DB_PASSWORD" in labels and "API_TOKEN" in labels  # names, so plan can say what changed
        assert "DB_PASSWORD=from-the-env-file-77" in c.attrs["Config"]["Env"]
    assert fleet.cli("plan", "--json").json()["changes"] == 0
    secret_file.write_text("DB_PASSWORD=rotated-88\n")
    plan = fleet.cli("plan")
    assert plan.code == 0 and "env changed: API_TOKEN, DB_PASSWORD" in plan.out, plan.out
    assert "rotated-88" not in plan.out and "from-the-env-file-77" not in plan.out


def test_a_root_that_should_be_a_mount_is_refused_while_nothing_is_mounted(fleet: FleetFixture):
    """storage.mount (the default): init writes no marker into an empty mount point, and a marker
    found in one (left by an earlier init, hidden while the storage was mounted) passes no guard."""
    fleet.write([demo_site(DOMAIN, 21180)])
    fleet.path.write_text(fleet.path.read_text().replace("mount: false", "mount: true"))
    init = fleet.cli("storage", "init")
    assert init.code == 1 and "not a mount point" in init.err
    assert not (fleet.root / ".cargohold-fleet.json").exists()
    (fleet.root / ".cargohold-fleet.json").write_text(json.dumps({"fleet": fleet.name}))  # a shadowed marker
    applied = fleet.cli("apply")
    assert applied.code == 1 and "not a mount point" in applied.err
    assert fleet.containers() == [] and not (fleet.root / "files").exists()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "cargohold-test", str(fleet.root)], check=True,
                   timeout=10)
    try:
        assert fleet.cli("storage", "init").code == 0
        plan = fleet.cli("plan", "--json").json()
        assert plan["blockers"] == [] and plan["changes"] > 0
    finally:
        subprocess.run(["umount", str(fleet.root)], check=True, timeout=10)
