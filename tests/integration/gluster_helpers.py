"""Fault-injection helpers for the GlusterFS lab: writers through mounts, faults by recorded pid."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.lab import Lab
from cargohold.lab.gluster import LabGlusterd
from cargohold.nodes.local import LocalExecutor
from cargohold.process import pids_naming, read_pid, stop_pid, unmount_all_below
from cargohold.storage.gluster.cli import GlusterCLI
from cargohold.wait import wait_until

VOLUME = "web"
DOMAIN = "www.example.com"


@dataclass(eq=False)
class Writer(threading.Thread):
    """Writes and fsyncs small files (4-64 KiB) into a site directory through one mount, at a bounded
    rate, and records what was acknowledged, what failed, and the longest gap between
    acknowledgements. In place (open at the final name with O_TRUNC: PHP's file_put_contents, a
    move_uploaded_file across filesystems, Node's fs.writeFile) or, with `rename`, into a temp file
    renamed into place (what the demo app does)."""

    name_prefix: str
    directory: Path
    interval: float = 0.4
    rename: bool = False
    max_files: int = 2000
    acked: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    failed_digests: dict[str, str] = field(default_factory=dict)  # what a refused write tried to store
    max_gap: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        last = time.monotonic()
        for n in range(self.max_files):
            if self.stop.is_set():
                break
            name = f"{self.name_prefix}-{n:05d}.dat"
            data = os.urandom(random.randint(1, 16) * 4096)
            target = self.directory / name
            path = self.directory / f".{name}.part" if self.rename else target
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if self.rename:
                    os.rename(path, target)
            except OSError as exc:
                self.failed[name] = f"{type(exc).__name__}: {exc.strerror or exc}"
                self.failed_digests[name] = hashlib.sha256(data).hexdigest()
                time.sleep(self.interval)
                continue
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            self.acked[name] = hashlib.sha256(data).hexdigest()
            time.sleep(self.interval)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=120)
        assert not self.is_alive(), f"writer {self.name_prefix} is stuck in a write"


@dataclass(eq=False)
class Reader(threading.Thread):
    """Keeps every node's caches warm: reads the newest acknowledged files through every mount, over
    and over, during a fault and its heal. A read may stall or fail; it may never return bytes other
    than those acknowledged (each wrong read is recorded)."""

    writers: list[Writer]
    directories: list[Path]
    reads: int = 0
    errors: int = 0
    wrong: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            acked = [(k, d) for w in self.writers for k, d in list(w.acked.items())[-40:]]
            for name, digest in acked:
                for directory in self.directories:
                    try:
                        data = (directory / name).read_bytes()
                    except OSError:
                        self.errors += 1
                        continue
                    self.reads += 1
                    if hashlib.sha256(data).hexdigest() != digest:
                        self.wrong.append(f"{directory}/{name}: {len(data)} bytes")
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=120)
        assert not self.is_alive(), "the reader is stuck in a read"


class GlusterLab:
    def __init__(self, lab: Lab, fleet_file: Path) -> None:
        self.lab = lab
        self.fleet_file = fleet_file
        self.servers: list[LabGlusterd] = lab.glusterds()
        self.reader: Reader | None = None
        self.cli = GlusterCLI(LocalExecutor("s1"), str(self.servers[0].socket), timeout=20)

    def mount(self, node: int) -> Path:
        return self.lab.web_home(node) / "storage"

    def site_dir(self, node: int) -> Path:
        return self.mount(node) / "files" / DOMAIN

    def brick(self, index: int) -> Path:
        return self.servers[index - 1].brick_root / VOLUME

    def data_bricks(self) -> list[Path]:
        return [self.brick(1), self.brick(2)]  # s3 holds the arbiter brick: metadata only

    def brick_pid(self, index: int) -> int:
        brick = str(self.brick(index))
        for status in self.cli_any().volume_status(VOLUME):
            if status.path == brick:
                return status.pid
        raise AssertionError(f"brick {brick} not in volume status")

    def cli_any(self) -> GlusterCLI:
        for server in self.servers:
            cli = GlusterCLI(LocalExecutor(server.name), str(server.socket), timeout=10)
            with contextlib.suppress(Exception):
                cli.pool()
                return cli
        raise AssertionError("no glusterd answers")

    def glusterd_pid(self, index: int) -> int:
        pid = read_pid(self.servers[index - 1].pidfile)
        assert pid is not None
        return pid

    def signal_node(self, index: int, sig: signal.Signals) -> list[int]:
        """Signal one storage node's glusterd and brick (by their recorded pids)."""
        pids = [self.brick_pid(index), self.glusterd_pid(index)]
        for pid in pids:
            os.kill(pid, sig)
        return pids

    def heal_total(self) -> int:
        return sum(self.cli_any().heal_count(VOLUME).values())

    def wait_healed(self, timeout: float = 120) -> float:
        start = time.monotonic()
        wait_until(lambda: self.heal_total() == 0, timeout, "heal backlog to reach zero", interval=1)
        return time.monotonic() - start

    def clients_connected(self, node: int) -> bool:
        active = self.mount(node) / ".meta" / "graphs" / "active"
        states = []
        for i in range(len(self.servers)):
            try:
                text = (active / f"{VOLUME}-client-{i}" / "private").read_text()
            except OSError:
                return False
            states.append("connected = 1" in text)
        return all(states)

    def check_replicas(self, writers: list[Writer]) -> int:
        """Every acknowledged file reads back exactly (size from stat, and content) through every web
        node's mount, and is on every data brick with the right content."""
        places = [self.site_dir(1), self.site_dir(2)] + [brick / "files" / DOMAIN for brick in self.data_bricks()]
        checked, wrong = 0, []
        for writer in writers:
            for name, digest in writer.acked.items():
                for place in places:
                    path = place / name
                    try:
                        size, data = path.stat().st_size, path.read_bytes()
                    except OSError as exc:
                        wrong.append(f"{path}: {exc}")
                        continue
                    if size != len(data) or hashlib.sha256(data).hexdigest() != digest:
                        wrong.append(f"{path}: stat says {size} bytes, read {len(data)}, content differs")
                    checked += 1
        assert wrong == [], f"{len(wrong)} of {checked} reads wrong, e.g. {wrong[:3]}"
        return checked


    def remove_volume(self, volume: str) -> None:
        """A test's own volume gone: both web nodes' mounts of it, the volume, its bricks."""
        for node in (1, 2):
            unmount_all_below(self.lab.web_home(node) / volume)
            for pid in pids_naming(self.lab.web_home(node) / volume):
                stop_pid(pid, grace=5)
        self.cli.call("volume", "stop", volume, "force")
        self.cli.call("volume", "delete", volume)
        for server in self.servers:
            shutil.rmtree(server.brick_root / volume, ignore_errors=True)


@contextlib.contextmanager
def partition(address: str):
    """Drop all traffic to and from one loopback address (nftables, a table of our own)."""
    table = "cargohold_test_partition"
    rules = f"""
table inet {table} {{
  chain input {{ type filter hook input priority -10; ip saddr {address} drop; ip daddr {address} drop; }}
  chain output {{ type filter hook output priority -10; ip saddr {address} drop; ip daddr {address} drop; }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, timeout=10)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False, timeout=10)
