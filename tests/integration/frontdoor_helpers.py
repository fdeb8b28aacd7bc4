"""Helpers for front-door tests: bounded load through the front door, a fleet with a front door."""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.error
import urllib.request

from conftest import FleetFixture
from http_helpers import allowed


class Load:
    """Bounded concurrent clients through the front door: GETs, and uploads when `uploads` is set."""

    def __init__(self, url: str, host: str, workers: int = 8, seconds: float = 90, uploads: bool = False) -> None:
        self.url, self.host, self.uploads = url, host, uploads
        self.stop = threading.Event()
        self.deadline = time.monotonic() + seconds
        self.ok = 0
        self.failed: list[str] = []
        self.acked: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(workers)]

    def run(self, n: int) -> None:
        i = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline and i < 5000:
            i += 1
            if self.uploads and i % 3 == 0:
                how = "upload-inplace" if i % 6 == 0 else "upload"  # as PHP writes, and via rename
                name, body = f"up-{n}-{i}.txt", os.urandom(random.randint(1, 16) * 1024)
                code = request(self.url, self.host, "POST", f"/{how}/{name}", body)
                ok = code == 201
                if ok:
                    with self.lock:
                        self.acked[name] = body
            else:
                code = request(self.url, self.host, "GET", "/healthz")
                ok = code == 200
            with self.lock:
                if ok:
                    self.ok += 1
                else:
                    self.failed.append(f"{code}")
            time.sleep(0.01)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def request(url: str, host: str, method: str, path: str, body: bytes | None = None) -> int:
    assert allowed(url), f"tests only talk to loopback and the lab's namespace hosts, not {url}"
    req = urllib.request.Request(url + path, data=body, method=method, headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def door_fleet(fleet: FleetFixture, port: int, sites: list[dict], **frontdoor: object) -> str:
    state = fleet.root.parent / f"{fleet.name}-state"
    fleet.write(sites, frontdoor={"http": f"127.0.0.1:{port}", "check_interval": 0.5, **frontdoor})
    text = fleet.path.read_text().replace("name: web1", f"name: web1\n  state_dir: {state}")
    fleet.path.write_text(text)
    return f"http://127.0.0.1:{port}"
