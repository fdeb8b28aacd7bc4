"""`cargohold dev` output runs under the real docker-compose against the lab engine."""

from __future__ import annotations

import os
import subprocess

from cargohold.wait import wait_until
from conftest import FleetFixture, demo_site
from http_helpers import get, upload

DOMAIN = "dev.example.com"
PORT = 21200


def test_dev_setup_runs_under_compose_and_serves_the_site(fleet: FleetFixture, tmp_path):
    fleet.write([demo_site(DOMAIN, PORT, env={"SITE_NAME": "Dev", "DB_PASSWORD": "prod-secret-42"})])
    workdir = tmp_path / "site"
    result = fleet.cli("dev", DOMAIN, "--dir", str(workdir))
    assert result.code == 0, result.err
    assert (workdir / "application" / "app.py").exists(), "the app root is copied out of the image"
    ignored = (workdir / ".gitignore").read_text().splitlines()
    assert "/files/" in ignored and "/logs/" in ignored and "/site.env" in ignored
    compose = (workdir / "docker-compose.yml").read_text()
    # Production values are never copied by default: site.env has the names, 0600, git-ignored.
    site_env = workdir / "site.env"
    assert "prod-secret-42" not in compose and "prod-secret-42" not in site_env.read_text()
    assert "DB_PASSWORD=change-me" in site_env.read_text() and (site_env.stat().st_mode & 0o777) == 0o600
    with_values = tmp_path / "with-values"
    assert fleet.cli("dev", DOMAIN, "--dir", str(with_values), "--no-export", "--env-values").code == 0
    assert "DB_PASSWORD=prod-secret-42" in (with_values / "site.env").read_text()
    assert "prod-secret-42" not in (with_values / "docker-compose.yml").read_text()
    assert "./application:/var/www" in compose and "./files:/var/www/sites/default/files" in compose

    # The developer edits the app in ./application: the running site must serve that code.
    app = workdir / "application" / "app.py"
    app.write_text(app.read_text().replace("demo site {SITE}", "DEV COPY of {SITE}"))

    env = {**os.environ, "DOCKER_HOST": fleet.engine_url, "COMPOSE_PROJECT_NAME": fleet.name}
    make = ["make", "-C", str(workdir)]
    try:
        up = subprocess.run([*make, "start"], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        wait_until(lambda: get(f"http://127.0.0.1:{PORT}/healthz", timeout=1)[0] == 200, 60, "the dev site")
        assert get(f"http://127.0.0.1:{PORT}/")[1].startswith(b"DEV COPY of dev.example.com")
        assert upload(f"http://127.0.0.1:{PORT}", "dev.txt", b"from dev") == 201
        assert (workdir / "files" / "dev.txt").read_bytes() == b"from dev"
        log = workdir / "logs" / "access.log"
        wait_until(lambda: log.exists() and "dev.txt" in log.read_text(), 10, "the access log line")
        status = subprocess.run([*make, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "Up" in status.stdout
    finally:
        down = subprocess.run([*make, "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert get(f"http://127.0.0.1:{PORT}/healthz", timeout=1)[0] == 0


def test_dev_refuses_to_overwrite_a_changed_compose_file(fleet: FleetFixture, tmp_path):
    fleet.write([demo_site(DOMAIN, PORT)])
    workdir = tmp_path / "site"
    assert fleet.cli("dev", DOMAIN, "--dir", str(workdir), "--no-export").code == 0
    (workdir / "docker-compose.yml").write_text("# mine\n")
    again = fleet.cli("dev", DOMAIN, "--dir", str(workdir), "--no-export")
    assert again.code == 2 and "--force" in again.err
    assert (workdir / "docker-compose.yml").read_text() == "# mine\n"
    unknown = fleet.cli("dev", "nope.example.com", "--dir", str(workdir))
    assert unknown.code == 2
