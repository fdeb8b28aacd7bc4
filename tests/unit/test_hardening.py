"""Hostile values against the validators and the writers behind them (each would have passed before)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from cargohold.deploy import write_atomically
from cargohold.errors import UsageError
from cargohold.fleet.fields import check_area, check_domain, check_env_name, check_host, check_image, check_ssh
from cargohold.frontdoor.logd import LOG_NAME, append_site_line


@pytest.mark.parametrize("check, value", [
    (check_domain, "a.example.com\n"), (check_domain, "bank.example.com\n"), (check_env_name, "DB_PASSWORD\n"),
    (check_area, "files\n"), (check_image, "demo:1\n"), (check_host, "127.0.0.1\n"),
    (check_host, "127.0.0.1:9\nglobal\n    lua-load /tmp/x.lua\n#"), (check_host, "*"), (check_host, "10.0.0.0/8"),
    (check_host, "999.1.1.1"), (check_host, "-oProxyCommand=x"), (check_ssh, "root@h:abc"),
    (check_ssh, "root@h:70000"), (check_ssh, "-oProxyCommand=x@h"), (check_ssh, "root@h\n"),
])
def test_a_hostile_value_is_refused_by_full_match(check, value):
    with pytest.raises(ValueError):
        check(value)


@pytest.mark.parametrize("check, value", [
    (check_host, "127.0.0.1"), (check_host, "::1"), (check_host, "web1.example.com"), (check_ssh, "root@h:2222"),
    (check_ssh, "deploy@10.0.0.3"), (check_ssh, "ssh://root@[::1]:22"),
])
def test_good_values_still_pass(check, value):
    assert check(value) == value


def test_deploy_writes_the_fleet_file_atomically_keeping_its_mode(tmp_path: Path):
    fleet = tmp_path / "cargohold.yml"
    fleet.write_text("old\n")
    fleet.chmod(0o600)
    planted = tmp_path / "elsewhere"
    os.symlink(planted, tmp_path / ".cargohold.yml.cargohold-tmp")  # the old predictable temp name
    write_atomically(fleet, "new\n")
    assert fleet.read_text() == "new\n" and (fleet.stat().st_mode & 0o777) == 0o600
    assert not planted.exists(), "a planted link was followed"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [], "no temp file left behind"


def test_deploy_refuses_a_symlinked_fleet_file(tmp_path: Path):
    target = tmp_path / "real.yml"
    target.write_text("real\n")
    link = tmp_path / "cargohold.yml"
    link.symlink_to(target)
    with pytest.raises(UsageError):
        write_atomically(link, "new\n")
    assert target.read_text() == "real\n"


def test_log_writer_refuses_a_planted_fifo_and_symlink_and_keeps_logging_other_sites(tmp_path: Path):
    for site in ("fifo.example.com", "link.example.com", "ok.example.com"):
        (tmp_path / "logs" / site).mkdir(parents=True)
    os.mkfifo(tmp_path / "logs" / "fifo.example.com" / LOG_NAME)
    victim = tmp_path / "victim"
    victim.write_text("")
    (tmp_path / "logs" / "link.example.com" / LOG_NAME).symlink_to(victim)
    done = threading.Event()

    def write_all() -> None:
        assert append_site_line(str(tmp_path), "fifo.example.com", b"x\n") is False
        assert append_site_line(str(tmp_path), "link.example.com", b"x\n") is False
        assert append_site_line(str(tmp_path), "ok.example.com", b"line\n") is True
        done.set()

    thread = threading.Thread(target=write_all, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(5)
    assert done.is_set(), "the log writer blocked on a planted FIFO"
    assert time.monotonic() - start < 2
    assert victim.read_text() == ""
    assert (tmp_path / "logs" / "ok.example.com" / LOG_NAME).read_text() == "line\n"


@pytest.mark.parametrize("command, path, names", [
    ("glusterd --pid-file=/dev/shm/lab/gluster/s1/glusterd.pid", "/dev/shm/lab", True),
    ("dockerd --data-root /dev/shm/lab/docker/data", "/dev/shm/lab", True),
    ("glusterfs /dev/shm/lab", "/dev/shm/lab", True),
    ("dockerd --data-root /dev/shm/lab2/docker/data", "/dev/shm/lab", False),
    ("glusterd --pid-file=/dev/shm/lab-other/x.pid", "/dev/shm/lab", False),
])
def test_lab_down_stops_only_its_own_processes(command, path, names):
    from cargohold.process import names_path

    assert names_path(command, path) is names


def test_the_log_writer_runs_on_a_node_with_only_python3():
    """logd.py is copied to remote web nodes and run there with plain python3: standard library only,
    and the same domain rule as the fleet file's."""
    import ast
    import sys
    from pathlib import Path

    from cargohold.fleet.fields import DOMAIN_RE
    from cargohold.frontdoor import logd

    tree = ast.parse(Path(logd.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__"}
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert logd.DOMAIN_RE.pattern == DOMAIN_RE.pattern
