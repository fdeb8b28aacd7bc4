"""A GlusterFS lab for the storage benchmarks: one cluster, two volumes on the same bricks' disks.

- `prof`: created, tuned and mounted by cargohold (`apply` of a fleet file), mounts web1/prof, web2/prof.
- `dflt`: created and mounted by hand with the bare tools and GlusterFS's defaults, mounts web1/dflt, web2/dflt.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from cargohold.apply import apply_plan
from cargohold.backends import connect, observe
from cargohold.fleet.desired import desired_state
from cargohold.fleet.schema import Fleet
from cargohold.lab import Lab
from cargohold.nodes.local import LocalExecutor
from cargohold.plan import plan
from cargohold.process import read_pid, stop_pid, unmount_all_below
from cargohold.storage.gluster.cli import GlusterCLI

BENCH_LAB = Path(os.environ.get("CARGOHOLD_BENCH_LAB", "/dev/shm/cargohold-bench-gl"))


class BenchCluster:
    def __init__(self) -> None:
        self.lab = Lab(BENCH_LAB, net=int(os.environ.get("CARGOHOLD_BENCH_NET", "5")))

    def up(self) -> None:
        self.lab.up(demo_versions=(), storage=3, web=2)
        self.servers = self.lab.glusterds()
        self.cli = GlusterCLI(LocalExecutor("s1"), str(self.servers[0].socket), timeout=60)
        data = json.loads(self.lab.fleet_file.read_text().split("\n", 1)[1])
        data["fleet"] = "bench"
        data["sites"] = []
        data["storage"]["volume"] = "prof"
        data["storage"]["servers"] = [{**s, "brick": s["brick"].replace("/web", "/prof")}
                                      for s in data["storage"]["servers"]]
        for node in data["nodes"]:
            node["storage_root"] = node["storage_root"].replace("/storage", "/prof")
        fleet = Fleet.model_validate(data)
        desired = desired_state(fleet)
        backends = connect(fleet)
        apply_plan(plan(desired, observe(desired, backends)), desired, backends)
        backends.close()
        # The bare way: defaults, one volfile server per mount.
        bricks = [f"{s.address}:{s.brick_root / 'dflt'}" for s in self.servers]
        self.cli.call("volume", "create", "dflt", "replica", "3", "arbiter", "1", *bricks)
        self.cli.call("volume", "start", "dflt")
        for node in (1, 2):
            mnt = self.mount("dflt", node)
            mnt.mkdir(parents=True, exist_ok=True)
            subprocess.run(["glusterfs", f"--volfile-server={self.servers[0].address}", "--volfile-id=dflt",
                            f"--pid-file={mnt}.pid", f"--log-file={mnt}.log", str(mnt)], check=True, timeout=60)

    def mount(self, volume: str, node: int) -> Path:
        return self.lab.web_home(node) / volume

    def brick_pid(self, volume: str, index: int) -> int:
        path = str(self.servers[index - 1].brick_root / volume)
        return next(b.pid for b in self.cli.volume_status(volume) if b.path == path)

    def glusterd_pid(self, index: int) -> int:
        pid = read_pid(self.servers[index - 1].pidfile)
        assert pid is not None
        return pid

    def heal_total(self, volume: str) -> int:
        return sum(self.cli.heal_count(volume).values())

    def down(self) -> None:
        for node in (1, 2):
            mnt = self.mount("dflt", node)
            unmount_all_below(mnt)
            pid = read_pid(Path(f"{mnt}.pid"))
            if pid:
                stop_pid(pid, grace=5)
        self.lab.down()
