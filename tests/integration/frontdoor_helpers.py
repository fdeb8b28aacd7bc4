"""Helpers for front-door tests: bounded load through the front door, a fleet with a front door."""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from cargohold.wait import wait_until
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


@dataclass
class Poller:
    """Bounded clients through one front door: GET / (recording X-Version) and, optionally, uploads."""

    url: str
    host: str
    uploads: bool = False
    workers: int = 3
    seconds: float = 120
    timeout: float = 30  # above the storage pause of a hung node: a stalled request is not a failed one
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    failed_started: list[float] = field(default_factory=list)  # when each failed request was sent (monotonic)
    versions: set[str] = field(default_factory=set)
    acked: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert allowed(self.url), f"tests only talk to loopback and the lab's namespace hosts, not {self.url}"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(self.workers)]

    def run(self, n: int) -> None:
        deadline = time.monotonic() + self.seconds
        i = 0
        while not self.stop.is_set() and time.monotonic() < deadline and i < 5000:
            i += 1
            upload = self.uploads and i % 2 == 0
            # Half of the uploads as PHP writes them (in place at the final name), half via rename.
            how = "upload-inplace" if i % 4 == 0 else "upload"
            name, body = f"p{os.getpid()}-{id(self)}-{n}-{i}.bin", os.urandom(random.randint(1, 16) * 1024)
            req = urllib.request.Request(self.url + (f"/{how}/{name}" if upload else "/"),
                                         data=body if upload else None, method="POST" if upload else "GET",
                                         headers={"Host": self.host})
            started = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                    code, version = resp.status, resp.headers.get("X-Version", "?")
            except urllib.error.HTTPError as exc:
                code, version = exc.code, "?"
            except OSError as exc:
                code, version = 0, str(exc)
            with self.lock:
                if code in (200, 201):
                    self.ok += 1
                    if upload:
                        self.acked[name] = body
                    else:
                        self.versions.add(version)
                else:
                    self.failed.append(f"{'POST' if upload else 'GET'} {code} {version}")
                    self.failed_started.append(started)
            time.sleep(0.01)

    def __enter__(self) -> Poller:
        for t in self.threads:
            t.start()
        wait_until(lambda: self.ok >= 3, 30, "the poller's first answers")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
