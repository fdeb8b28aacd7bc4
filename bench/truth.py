"""bench/truth: which GlusterFS option sets let a web node read back exactly what was acknowledged
through a fault. One cluster, one volume per candidate option set (all on the same three servers),
two mounts of each (web1, web2, mounted the way cargohold mounts: every server a volfile server).

Per volume, two writers (one per mount) write files of 4-64 KiB in place at their final name
(open O_CREAT|O_TRUNC, write, fsync, close = acknowledged; what PHP's file_put_contents does) and
read each one back at once through their own mount (a web node serving what it just stored: caches
warm). Then s2's brick process of every volume is SIGSTOPped for --fault seconds (or s2's address is
partitioned off), resumed, the writers stop, heal reaches 0, and every acknowledged file is read
through every mount (stat size and content) and on both data bricks.

Run: scripts/setup && .venv/bin/python bench/truth.py [--fault 12] [--mode stop|partition]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.fleet.gluster_profile import volume_options
from cargohold.lab import Lab
from cargohold.nodes.local import LocalExecutor
from cargohold.process import read_pid, stop_pid, unmount_all_below
from cargohold.storage.gluster.cli import GlusterCLI
from cargohold.wait import wait_until

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration"))
from gluster_helpers import partition  # noqa: E402  (the fault tests' own nftables partition)

LAB = Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-truth"))

# Candidate option sets: name -> options on top of GlusterFS's defaults. "profile" is cargohold's
# profile as it is now; "former" the profile before the storage-truth issue, spelled out.
PROFILE = volume_options(3, {})
BASE = {k: PROFILE[k] for k in ("network.ping-timeout", "cluster.quorum-type", "cluster.heal-timeout",
                                "cluster.server-quorum-type")}
MDCACHE = {"features.cache-invalidation": "on", "features.cache-invalidation-timeout": "600",
           "performance.cache-invalidation": "on", "performance.stat-prefetch": "on",
           "performance.md-cache-timeout": "600"}
NLCACHE = {"performance.nl-cache": "on", "performance.nl-cache-timeout": "600"}
FORMER = {**BASE, **MDCACHE, **NLCACHE, "network.inode-lru-limit": "200000"}
FIRST_FIX = {**FORMER, "performance.md-cache-timeout": "1", "performance.quick-read-cache-invalidation": "on"}
CANDIDATES: dict[str, dict[str, str]] = {
    "profile": PROFILE,
    "former": FORMER,
    "first-fix": FIRST_FIX,  # md-cache-timeout 1 + quick-read-cache-invalidation, md-cache upcalls still on
    "defaults": {},
    "base": BASE,
    "base+mdcache": {**BASE, **MDCACHE},
    "base+nlcache": {**BASE, **NLCACHE},
    "base+mdcache-t1": {**BASE, **MDCACHE, "performance.md-cache-timeout": "1"},
    "former-t1": {**FORMER, "performance.md-cache-timeout": "1"},
    "t1-noqr": {**FORMER, "performance.md-cache-timeout": "1", "performance.quick-read": "off"},
    "t1-ctime": {**FORMER, "performance.md-cache-timeout": "1", "performance.ctime-invalidation": "on"},
    "t1-noglobal": {**FORMER, "performance.md-cache-timeout": "1", "performance.global-cache-invalidation": "off"},
    "profile-no-nlcache": {**PROFILE, "performance.nl-cache": "off"},
    "profile-no-qrinval": {**PROFILE, "performance.quick-read-cache-invalidation": "off"},
    "profile-lru-default": {**PROFILE, "network.inode-lru-limit": "16384"},
}


@dataclass(eq=False)
class Writer(threading.Thread):
    prefix: str
    directory: Path
    rename: bool = False
    interval: float = 0.25
    acked: dict[str, str] = field(default_factory=dict)
    failed: int = 0
    wrong_at_once: int = 0  # read back right after the acknowledgement, through the same mount
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        rng = random.Random(self.prefix)
        for n in range(100000):
            if self.stop.is_set():
                return
            name = f"{self.prefix}-{n:05d}.dat"
            data = rng.randbytes(rng.randint(4, 64) * 1024)
            target = self.directory / name
            path = self.directory / f".{name}.tmp" if self.rename else target
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if self.rename:
                    os.rename(path, target)
                self.acked[name] = hashlib.sha256(data).hexdigest()
                with contextlib.suppress(OSError):  # serve it at once: the writer's caches are warm
                    size = os.stat(target).st_size
                    if size != len(data) or target.read_bytes() != data:
                        self.wrong_at_once += 1
            except OSError:
                self.failed += 1
            time.sleep(self.interval)


@dataclass(eq=False)
class Verifier(threading.Thread):
    """Reads every acknowledged file through every mount, over and over, while the fault runs and
    heals: a read may stall or fail, it must never return other bytes than were acknowledged."""

    writers: list[Writer]
    mounts: list[Path]
    wrong: int = 0
    errors: int = 0
    reads: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            acked = {k: d for w in self.writers for k, d in list(w.acked.items())}
            for name, digest in list(acked.items())[-200:]:
                for mount in self.mounts:
                    try:
                        data = (mount / name).read_bytes()
                    except OSError:
                        self.errors += 1
                        continue
                    self.reads += 1
                    if hashlib.sha256(data).hexdigest() != digest:
                        self.wrong += 1
                if self.stop.is_set():
                    return


def churn(writer_dir: Path, reader_dirs: list[Path], seconds: float, files: int = 50) -> dict[str, int]:
    """No fault: one node replaces files whole (temp + rename, 16 KiB, new bytes each time) while the
    other nodes read them over and over. Every read must return one complete version."""
    writer_dir.mkdir(parents=True, exist_ok=True)
    versions: dict[str, set[str]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    counts = {"writes": 0, "reads": 0, "wrong": 0, "errors": 0}

    def write_loop() -> None:
        rng = random.Random(1)
        n = 0
        while not stop.is_set():
            name = f"churn-{n % files:03d}.dat"
            data = rng.randbytes(16384)
            with lock:
                versions.setdefault(name, set()).add(hashlib.sha256(data).hexdigest())
            tmp = writer_dir / f".{name}.tmp"
            tmp.write_bytes(data)
            os.rename(tmp, writer_dir / name)
            counts["writes"] += 1
            n += 1
            time.sleep(0.01)

    def read_loop(directory: Path) -> None:
        while not stop.is_set():
            for i in range(files):
                name = f"churn-{i:03d}.dat"
                try:
                    data = (directory / name).read_bytes()
                except OSError:
                    counts["errors"] += 1
                    continue
                with lock:
                    known = versions.get(name, set())
                    counts["reads"] += 1
                    if known and hashlib.sha256(data).hexdigest() not in known:
                        counts["wrong"] += 1

    threads = [threading.Thread(target=write_loop, daemon=True)]
    threads += [threading.Thread(target=read_loop, args=(d,), daemon=True) for d in reader_dirs]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(30)
    return counts


def wrong_through(mount_dir: Path, acked: dict[str, str]) -> int:
    wrong = 0
    for name, digest in acked.items():
        try:
            path = mount_dir / name
            size = os.stat(path).st_size
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != digest or size != len(data):
                wrong += 1
        except OSError:
            wrong += 1
    return wrong


class Cluster:
    def __init__(self) -> None:
        self.lab = Lab(LAB, net=int(os.environ.get("CARGOHOLD_BENCH_NET", "6")))
        self.mounts: list[Path] = []

    def up(self, volumes: dict[str, dict[str, str]]) -> None:
        self.lab.up(demo_versions=(), storage=3, web=2, write_fleet=False)
        self.servers = self.lab.glusterds()
        self.cli = GlusterCLI(LocalExecutor("s1"), str(self.servers[0].socket), timeout=60)
        for s in self.servers[1:]:
            self.cli.call("peer", "probe", s.address)
        for s in self.servers:  # every server sees every other before a volume is created
            cli = GlusterCLI(LocalExecutor(s.name), str(s.socket), timeout=60)
            wait_until(lambda cli=cli: all(p.connected for p in cli.pool()), 60, "peers connected")
        for i, options in enumerate(volumes.values()):
            name = f"v{i}"
            bricks = [f"{s.address}:{s.brick_root / name}" for s in self.servers]
            self.cli.call("volume", "create", name, "replica", "3", "arbiter", "1", *bricks, "force")
            for key, value in options.items():
                self.cli.call("volume", "set", name, key, value)
            self.cli.call("volume", "start", name)
            for node in (1, 2):
                mnt = self.mount(name, node)
                mnt.mkdir(parents=True, exist_ok=True)
                servers = [f"--volfile-server={s.address}" for s in self.servers]
                subprocess.run(["glusterfs", *servers, f"--volfile-id={name}", f"--pid-file={mnt}.pid",
                                f"--log-file={mnt}.log", str(mnt)], check=True, timeout=60)
                self.mounts.append(mnt)
        time.sleep(1)

    def mount(self, name: str, node: int) -> Path:
        return self.lab.web_home(node) / name

    def brick_pid(self, name: str, index: int) -> int:
        path = str(self.servers[index - 1].brick_root / name)
        return next(b.pid for b in self.cli.volume_status(name) if b.path == path)

    def heal_total(self, name: str) -> int:
        return sum(self.cli.heal_count(name).values())

    def down(self) -> None:
        for mnt in self.mounts:
            unmount_all_below(mnt)
            pid = read_pid(Path(f"{mnt}.pid"))
            if pid:
                stop_pid(pid, grace=5)
        self.lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault", type=float, default=12)
    parser.add_argument("--mode", choices=("stop", "partition", "restart"), default="stop",
                        help="restart: each server's brick in turn (arbiter first) killed and started again, "
                             "heal to 0 in between")
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    parser.add_argument("--rename", action="store_true", help="write temp + rename instead of in place")
    parser.add_argument("--consistency", action="store_true", help="measure the cross-node rows, no fault")
    parser.add_argument("--speed", action="store_true", help="bench/smallfile's workload on each candidate, "
                        "no fault (median of 3)")
    parser.add_argument("--churn", type=float, default=0, help="seconds of whole-file replacement on web1 "
                        "read through web2, no fault")
    args = parser.parse_args()
    candidates = {k: v for k, v in CANDIDATES.items() if not args.only or k in args.only}
    names = {f"v{i}": c for i, c in enumerate(candidates)}
    cluster = Cluster()
    cluster.up(candidates)
    try:
        if args.speed:
            from smallfile import workload
            runs: dict[str, list[dict[str, float]]] = {cand: [] for cand in names.values()}
            for _ in range(5):  # rounds interleaved across candidates: drift hits them all alike
                for v, cand in names.items():
                    runs[cand].append(workload(cluster.mount(v, 1) / "speed", 500))
            speeds = {c: {op: statistics.median(r[op] for r in rs) for op in rs[0]} for c, rs in runs.items()}
            ops = list(next(iter(speeds.values())))
            print(f"{'ops/s':>20} " + " ".join(f"{c:>18}" for c in speeds))
            for op in ops:
                print(f"{op:>20} " + " ".join(f"{speeds[c][op]:18.0f}" for c in speeds))
            return
        if args.churn:
            for v, cand in names.items():
                counts = churn(cluster.mount(v, 1) / "churn", [cluster.mount(v, 2) / "churn"], args.churn)
                print(f"{cand:>18}: {counts}", flush=True)
            return
        if args.consistency:
            from consistency import measure_all
            for v, cand in names.items():
                rows = measure_all(cluster.mount(v, 1) / "c", cluster.mount(v, 2) / "c", rounds=2, limit=5)
                print(cand, {k: [round(x, 3) for x in d] for k, d in rows.items()}, flush=True)
            return
        writers = {v: [Writer(f"{v}-w{n}", cluster.mount(v, n) / "files", args.rename) for n in (1, 2)]
                   for v in names}
        for v in names:
            (cluster.mount(v, 1) / "files").mkdir()
        for ws in writers.values():
            for w in ws:
                w.start()
        verifiers = {v: Verifier(writers[v], [cluster.mount(v, n) / "files" for n in (1, 2)]) for v in names}
        for verifier in verifiers.values():
            verifier.start()
        time.sleep(3)
        pids = [cluster.brick_pid(v, 2) for v in names]
        if args.mode == "stop":
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(args.fault)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        elif args.mode == "restart":
            for index in (3, 2, 1):
                for v in names:
                    os.kill(cluster.brick_pid(v, index), signal.SIGKILL)
                time.sleep(args.fault)
                for v in names:
                    cluster.cli.call("volume", "start", v, "force", timeout=120)
                deadline = time.monotonic() + 300
                time.sleep(3)
                while any(cluster.heal_total(v) for v in names) and time.monotonic() < deadline:
                    time.sleep(1)
        else:
            with partition(cluster.servers[1].address):
                time.sleep(args.fault)
        time.sleep(5)
        for ws in writers.values():
            for w in ws:
                w.stop.set()
        for ws in writers.values():
            for w in ws:
                w.join(120)
        deadline = time.monotonic() + 600
        while any(cluster.heal_total(v) for v in names) and time.monotonic() < deadline:
            time.sleep(2)
        healed = not any(cluster.heal_total(v) for v in names)
        time.sleep(2)
        for verifier in verifiers.values():
            verifier.stop.set()
            verifier.join(60)
        rows = {}
        for v, cand in names.items():
            acked = {k: d for w in writers[v] for k, d in w.acked.items()}
            row = {"acked": len(acked), "failed": sum(w.failed for w in writers[v]),
                   "wrong_at_once": sum(w.wrong_at_once for w in writers[v]),
                   "verifier": {"reads": verifiers[v].reads, "wrong": verifiers[v].wrong,
                                "errors": verifiers[v].errors}}
            for n in (1, 2):
                row[f"wrong_web{n}"] = wrong_through(cluster.mount(v, n) / "files", acked)
            row["wrong_bricks"] = sum(wrong_through(s.brick_root / v / "files", acked) for s in cluster.servers[:2])
            rows[cand] = row
            print(f"{cand:>18}: {row}", flush=True)
        print(f"healed={healed} fault={args.mode} {args.fault}s rename={args.rename}")
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / "truth.json").write_text(json.dumps({"machine": platform.platform(), "fault": args.mode,
                                                    "seconds": args.fault, "rows": rows}, indent=2))
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
