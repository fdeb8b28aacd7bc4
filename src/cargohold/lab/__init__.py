"""The lab: everything the demo, tests and benchmarks start, under one directory ($CARGOHOLD_LAB).

`Lab.up()` starts a private Docker engine, initialises a local storage root and builds the demo
images; `Lab.down()` stops what it started (by recorded pid) and removes the directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker

from cargohold.errors import UsageError
from cargohold.lab.engine import LabEngine
from cargohold.lab.gluster import LabGlusterd, unmount_aux_mounts
from cargohold.lab.images import ensure_demo_image
from cargohold.lab.isolated import IsolatedLab
from cargohold.lab.netns import LabNetwork
from cargohold.lab.swarm import HEARTBEAT, SwarmLab
from cargohold.process import pids_naming, stop_pid, unmount_all_below

DEFAULT_LAB = "/dev/shm/cargohold-lab"
LAB_FLEET = "lab"
_MARK = ".cargohold-lab"


def lab_dir() -> Path:
    return Path(os.environ.get("CARGOHOLD_LAB") or DEFAULT_LAB)


@dataclass(frozen=True)
class Lab:
    home: Path
    net: int = 1  # storage nodes on 127.1.<net>.N

    @classmethod
    def from_env(cls) -> Lab:
        return cls(lab_dir(), int(os.environ.get("CARGOHOLD_LAB_NET") or 1))

    @property
    def engine(self) -> LabEngine:
        # Also on tcp://127.0.0.1:2376N with TLS (lab CA): how a real web node's engine is reached.
        return LabEngine(self.home / "docker", tls_port=23760 + self.net)

    @property
    def storage_root(self) -> Path:
        return self.home / "storage"

    @property
    def fleet_file(self) -> Path:
        return self.home / "fleet.yml"

    def glusterd(self, index: int) -> LabGlusterd:
        return LabGlusterd(self.home / "gluster" / f"s{index}", index, self.net)

    def glusterds(self) -> list[LabGlusterd]:
        found = sorted(int(p.name[1:]) for p in (self.home / "gluster").glob("s[0-9]*")) \
            if (self.home / "gluster").exists() else []
        return [self.glusterd(i) for i in found]

    def web_home(self, index: int) -> Path:
        return self.home / "web" / f"web{index}"

    @property
    def swarm(self) -> SwarmLab:
        return SwarmLab(self.home / "swarm", LabNetwork(self.home, self.net))

    @property
    def isolated(self) -> IsolatedLab:
        """Web nodes that share only the network with this machine (lab/isolated.py)."""
        return IsolatedLab(self.home / "nodes", LabNetwork(self.home, self.net))

    def up(self, demo_versions: tuple[str, ...] = ("1", "2"), storage: int = 0, web: int = 1,
           swarm: bool = False, write_fleet: bool = True) -> list[str]:
        """Start (or restart what died of) the lab. With storage > 0: that many glusterd on
        127.1.1.N and a fleet file ($LAB/fleet.yml) whose web nodes mount one replicated volume.
        With swarm: `web` engines, each a host of its own, in one swarm, and a registry with the
        demo images; the fleet file then uses runtime swarm."""
        self._claim()
        if not swarm:
            self.engine.start()
        self.storage_root.mkdir(exist_ok=True)
        if storage:  # what a crashed earlier run's glusterd left mounted for itself
            unmount_aux_mounts({self.glusterd(i).address for i in range(1, storage + 1)})
        for i in range(1, storage + 1):
            self.glusterd(i).start()
        if swarm:
            self.swarm.up(web)
            images = self.swarm.push_demo_images(demo_versions)
        else:
            client = docker.DockerClient(base_url=self.engine.url, version="auto", timeout=600)
            try:
                images = [ensure_demo_image(client, v) for v in demo_versions]
            finally:
                client.close()
        if storage and write_fleet and not self.fleet_file.exists():
            text = self.swarm_fleet_yaml(storage, web) if swarm else self.fleet_yaml(storage, web)
            self.fleet_file.write_text(text)
        return images

    def up_isolated(self, storage: int, web: int, demo_versions: tuple[str, ...] = ("1", "2"),
                    swarm: bool = False) -> list[str]:
        """Isolated web nodes and storage servers (lab/isolated.py) and, the first time, a fleet file
        naming them as production does: TLS engines, SSH with the lab's known_hosts, front doors on
        every node at *:80 and *:443, the demo site. With swarm: a registry with the demo images
        too, and the fleet uses runtime swarm (apply creates the swarm). Returns the images."""
        self._claim()
        self.isolated.up(web, demo_versions, storage=storage)
        images = self.isolated.push_demo_images(demo_versions) if swarm else [f"cargohold-demo:{v}"
                                                                              for v in demo_versions]
        if self.fleet_file.exists():
            return images
        fleet = self.isolated.fleet(web, storage, LAB_FLEET, self.isolated.home / "admin" / "storage", swarm=swarm)
        fleet["frontdoor"] = {"http": "*:80", "https": "*:443", "check_interval": 1,
                              "certificates": [str(self.certificate())]}
        site = json.loads(self.fleet_yaml(0, 1).split("\n", 1)[1])["sites"][0]
        site["image"] = images[0]
        if swarm:  # every instance on the same port, one per node (host networking)
            site["health"].update(timeout=6)
        fleet["sites"] = [site]
        self.fleet_file.write_text("# Written by `cargohold lab up --isolated`; JSON is YAML.\n"
                                   + json.dumps(fleet, indent=2) + "\n")
        return images

    def swarm_fleet_yaml(self, storage: int, web: int, volume: str = "web") -> str:
        """The swarm lab's fleet: the same storage and site, Swarm placing the instances."""
        fleet = json.loads(self.fleet_yaml(storage, web).split("\n", 1)[1])
        fleet["runtime"] = "swarm"
        fleet["swarm"] = {"manager": "web1", "create": True, "heartbeat": HEARTBEAT}
        fleet["storage"]["volume"] = volume
        for server in fleet["storage"]["servers"]:
            server["brick"] = server["brick"].rsplit("/", 1)[0] + f"/{volume}"
        # The lab mounts every node's storage from this machine (source 127.0.0.1), not from the
        # node's own address as a real web node would.
        fleet["storage"]["options"] = {"auth.allow": "127.*"}
        fleet["storage"]["allow_wider_auth"] = True
        for i, node in enumerate(fleet["nodes"], start=1):
            home = self.swarm.node_home(i)
            node.update(engine=self.swarm.engine(i).url, address=self.swarm.address(i),
                        storage_root=str(home / "storage"), state_dir=str(home))
        for site in fleet["sites"]:
            site["image"] = f"{self.swarm.registry.address}/{site['image']}"
        return "# Written by `cargohold lab up --swarm`; JSON is YAML.\n" + json.dumps(fleet, indent=2) + "\n"

    def fleet_yaml(self, storage: int, web: int) -> str:
        """A fleet file for this lab (JSON, which is YAML): edit it, then `cargohold -f` it."""
        replica = 3 if storage >= 3 else 2
        servers = [
            {"name": g.name, "address": g.address, "brick": str(g.brick_root / "web"),
             "glusterd_socket": str(g.socket)}
            for g in (self.glusterd(i) for i in range(1, storage + 1))
        ]
        nodes = [
            {"name": f"web{i}", "engine": self.engine.url, "address": "127.0.0.1",
             "storage_root": str(self.web_home(i) / "storage"), "state_dir": str(self.web_home(i)),
             "frontdoor_http": f"127.0.0.1:{17999 + i}", "frontdoor_https": f"127.0.0.1:{18442 + i}"}
            for i in range(1, web + 1)
        ]
        fleet = {
            "fleet": LAB_FLEET,
            "storage": {"backend": "glusterfs", "root": "/storage", "volume": "web", "servers": servers,
                        "replica": replica, "arbiter": 1 if replica == 3 else 0,
                        **({} if replica == 3 else {"allow_replica2": True})},
            "nodes": nodes,
            "frontdoor": {"http": "127.0.0.1:18000", "https": "127.0.0.1:18443", "check_interval": 1,
                          "certificates": [str(self.certificate())]},
            "sites": [{
                "domain": "www.example.com", "image": "cargohold-demo:1", "instances": 2, "port": 18080,
                "app_root": "/var/www", "writable": {"/var/www/sites/default/files": "files"},
                "logs": "/var/log/demo", "uid": 33, "gid": 33, "aliases": ["example.com"],
                "health": {"http": "/healthz", "interval": 1, "timeout": 2},
            }],
        }
        return "# Written by `cargohold lab up`; JSON is YAML.\n" + json.dumps(fleet, indent=2) + "\n"

    def certificate(self) -> Path:
        """A self-signed certificate (and key, one PEM) for example.com and its subdomains."""
        pem = self.home / "frontdoor" / "example.com.pem"
        if not pem.exists():
            pem.parent.mkdir(parents=True, exist_ok=True)
            self_signed_certificate(pem, "example.com", ["example.com", "*.example.com"])
        return pem

    def down(self) -> None:
        if not self.home.exists():
            return
        if not (self.home / _MARK).exists():
            raise UsageError(f"{self.home} is not a cargohold lab (no {_MARK}); not removing it")
        self.engine.stop()  # first: containers hold bind mounts of the storage mounts
        self.isolated.down()
        self.swarm.down()
        for web in (self.home / "web", self.home / "swarm"):
            if web.exists():
                unmount_all_below(web)
        for glusterd in self.glusterds():
            glusterd.stop()
        unmount_aux_mounts({g.address for g in self.glusterds()})
        # FUSE clients do not always exit on umount; like every lab process they name the lab dir.
        for pid in pids_naming(self.home):
            stop_pid(pid, grace=5, expect=str(self.home))
        unmount_all_below(self.home)
        shutil.rmtree(self.home, ignore_errors=True)

    def _claim(self) -> None:
        if self.home.exists() and any(self.home.iterdir()) and not (self.home / _MARK).exists():
            raise UsageError(f"{self.home} exists and is not a cargohold lab; choose another CARGOHOLD_LAB")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / _MARK).write_text("cargohold lab: `cargohold lab down` removes this directory\n")


def self_signed_certificate(pem: Path, name: str, dns_names: list[str]) -> None:
    key, crt = pem.with_suffix(".key"), pem.with_suffix(".crt")
    san = ",".join(f"DNS:{n}" for n in dns_names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=60)
    pem.write_text(crt.read_text() + key.read_text())
    pem.chmod(0o600)

