"""A private image registry of the lab's own (Debian's docker-registry), on loopback, with its own
configuration and storage under the lab directory: images reach the engines as in production,
by `registry:port/name:tag` references."""

from __future__ import annotations

import contextlib
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cargohold.errors import RuntimeFailure
from cargohold.process import pid_alive, read_pid, spawn, stop_pid
from cargohold.wait import Timeout, wait_until


@dataclass(frozen=True)
class LabRegistry:
    home: Path  # <lab>/registry
    address: str = "127.0.0.1:5000"  # 127.0.0.0/8 is an insecure registry for every engine by default
    netns: str | None = None  # /run/netns/NAME: serve from that network namespace (the swarm lab's host)

    @property
    def pidfile(self) -> Path:
        return self.home / "registry.pid"

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None and pid_alive(pid) and self.answers():
            return
        if shutil.which("docker-registry") is None:
            raise RuntimeFailure("docker-registry is not installed (run scripts/setup)")
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "config.yml"
        # The packaged configuration turns on htpasswd auth and listens on every address: not ours.
        config.write_text(
            "version: 0.1\n"
            "log: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.home / 'data'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: \"{self.address}\"}}\n"
        )
        argv = ["docker-registry", "serve", str(config)]
        if self.netns:
            argv = ["nsenter", f"--net={self.netns}", *argv]  # nsenter execs: the pid stays the registry's
        pid = spawn(argv, self.home / "registry.log", self.pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: self.answers() or not pid_alive(pid), 15, "the lab registry")
        if not self.answers():
            raise RuntimeFailure(f"the lab registry did not start: {(self.home / 'registry.log').read_text()[-300:]}")

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, grace=5, expect="docker-registry")
