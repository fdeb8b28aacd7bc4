"""Backups on the GlusterFS lab: two sites backed up under uploads, files deleted and corrupted, then
restored under traffic; every file byte-identical to the snapshot through every web node's mount
and over HTTP from every instance, and no failed request during the restore."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from gluster_helpers import DOMAIN, GlusterLab, Writer

from conftest import run_cli
from http_helpers import get

SHOP = "shop.example.com"
PORTS = {DOMAIN: 22000, SHOP: 22010}


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
            if p.is_file() and not p.name.startswith(".")}


class Traffic(threading.Thread):
    """GETs of files the restore leaves as they are, from every instance, until stopped (bounded:
    at most `limit` requests)."""

    def __init__(self, names: dict[str, list[str]], limit: int = 4000) -> None:
        super().__init__(daemon=True)
        self.names, self.limit = names, limit
        self.stop, self.ok, self.failed = threading.Event(), 0, []  # type: ignore[var-annotated]

    def run(self) -> None:
        n = 0
        while not self.stop.is_set() and n < self.limit:
            for domain, names in self.names.items():
                for slot in (0, 1):
                    name = names[n % len(names)]
                    status, _, _ = get(f"http://127.0.0.1:{PORTS[domain] + slot}/sites/default/files/{name}")
                    n += 1
                    if status == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"{domain}#{slot + 1} {name}: {status}")


def test_two_sites_restored_under_traffic_byte_identical_everywhere(gluster: GlusterLab, tmp_path: Path):
    original = json.loads(gluster.fleet_file.read_text())
    data = json.loads(gluster.fleet_file.read_text())
    shop = dict(data["sites"][0], domain=SHOP, port=PORTS[SHOP], aliases=[])
    data["sites"].append(shop)
    password = tmp_path / "restic.pass"
    password.write_text("a long random passphrase for the lab\n")
    password.chmod(0o600)
    data["backup"] = {"repository": str(gluster.lab.home / "restic-test-repo"), "password_file": str(password),
                      "cache_dir": str(tmp_path / "cache"), "keep": {"last": 10}}
    fleet_file = gluster.lab.home / "backup-fleet.yml"
    fleet_file.write_text(json.dumps(data))
    try:
        applied = run_cli("-f", str(fleet_file), "apply")
        assert applied.code == 0, applied.err
        assert run_cli("-f", str(fleet_file), "backup", "init").code == 0
        dirs = {DOMAIN: (1, gluster.site_dir(1)), SHOP: (2, gluster.mount(2) / "files" / SHOP)}
        writers = [Writer(f"up-{domain}", directory, interval=0.05, rename=True, max_files=60)
                   for domain, (_, directory) in dirs.items()]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 60
        while min(len(w.acked) for w in writers) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        under_load = run_cli("-f", str(fleet_file), "backup", "--json")
        assert under_load.code == 0, under_load.err
        for writer in writers:
            writer.finish()
            assert writer.failed == {}, writer.failed
        final = run_cli("-f", str(fleet_file), "backup", "--json")
        assert final.code == 0, final.err
        assert {r["site"] for r in final.json()} == {DOMAIN, SHOP}

        # What the snapshot holds: every acknowledged upload, read through web1's mount.
        expected = {domain: digests(gluster.mount(1) / "files" / domain) for domain in dirs}
        for writer, domain in zip(writers, dirs, strict=True):
            assert {k: v for k, v in expected[domain].items() if k in writer.acked} == writer.acked

        # Damage through web2's mount: delete, corrupt, add.
        survivors = {}
        for domain in dirs:
            names = sorted(expected[domain])
            live = gluster.mount(2) / "files" / domain
            for name in names[:5]:
                (live / name).unlink()
            for name in names[5:10]:
                (live / name).write_bytes(b"corrupted by a bad deploy")
            (live / "written-after.txt").write_bytes(b"not in the snapshot")
            survivors[domain] = names[10:]  # untouched: the restore leaves them as they are

        traffic = Traffic(survivors)
        traffic.start()
        try:
            for domain in dirs:
                restored = run_cli("-f", str(fleet_file), "restore", domain)
                assert restored.code == 0, restored.err
                counts = f"{len(expected[domain]) - 10} unchanged, 5 replaced, 5 added, 1 moved aside"
                assert counts in restored.out, restored.out
        finally:
            traffic.stop.set()
            traffic.join(timeout=60)
        assert traffic.ok > 0 and traffic.failed == [], traffic.failed[:5]

        # Every file byte-identical through every web node's mount and over HTTP from every instance
        # (a node's cache may show the replaced file for up to its attribute timeout: ask again).
        wrong: list[str] = []
        for domain, files in expected.items():
            for name, digest in files.items():
                places = [f"mount web{n}" for n in (1, 2)] + [f"instance {slot + 1}" for slot in (0, 1)]
                for place in places:
                    deadline, seen = time.monotonic() + 5, "never read"
                    while True:
                        if place.startswith("mount"):
                            path = gluster.mount(int(place[-1])) / "files" / domain / name
                            body = path.read_bytes() if path.exists() else b""
                        else:
                            port = PORTS[domain] + int(place[-1]) - 1
                            status, body, _ = get(f"http://127.0.0.1:{port}/sites/default/files/{name}")
                        seen = hashlib.sha256(body).hexdigest()
                        if seen == digest or time.monotonic() > deadline:
                            break
                        time.sleep(0.2)
                    if seen != digest:
                        wrong.append(f"{domain} {name} via {place}")
            for n in (1, 2):
                assert not (gluster.mount(n) / "files" / domain / "written-after.txt").exists()
        assert wrong == [], wrong[:5]
        aside = gluster.mount(1) / ".cargohold-backup" / "aside" / SHOP
        assert (next(aside.iterdir()) / "files" / "written-after.txt").read_bytes() == b"not in the snapshot"

        drill = run_cli("-f", str(fleet_file), "backup", "verify", "--json")
        assert drill.code == 0, drill.err
        status = run_cli("-f", str(fleet_file), "status", "--json", "--no-usage").json()
        rows = {b["site"]: b for b in status["backups"]}
        assert rows[DOMAIN]["problems"] == [] and rows[SHOP]["last_good_drill_age_s"] < 60, rows
    finally:
        assert run_cli("-f", str(gluster.fleet_file), "apply").code == 0
        assert json.loads(gluster.fleet_file.read_text()) == original
