"""Test hosts on one machine: a bridge of the lab's own and one network namespace per host, joined
to it by a veth pair, each with an address of its own (10.99.<net>.N). The host keeps .254 on the
bridge, so cargohold, the front doors and the FUSE clients reach every host directly.

Names derive from the lab directory, so two labs (the demo's, the tests') never share one.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cargohold.errors import RuntimeFailure

HOST_SUFFIX = 254


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeFailure(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class LabNetwork:
    home: Path  # the lab directory the names derive from
    net: int  # hosts get 10.99.<net>.N

    @property
    def tag(self) -> str:
        return "ch" + hashlib.sha256(str(self.home).encode()).hexdigest()[:6]

    @property
    def bridge(self) -> str:
        return self.tag  # at most 15 characters, as every interface name

    @property
    def host_address(self) -> str:
        return self.address(HOST_SUFFIX)

    def address(self, suffix: int) -> str:
        return f"10.99.{self.net}.{suffix}"

    def netns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def netns_path(self, host: str) -> str:
        return f"/run/netns/{self.netns(host)}"

    def _veth(self, host: str) -> str:
        return f"{self.tag}{host}"[:15]

    def ensure_bridge(self) -> None:
        if _ip("link", "show", self.bridge, check=False).returncode != 0:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.host_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        self._forward_rule("-C", check=False) or self._forward_rule("-I")

    def _forward_rule(self, op: str, check: bool = True) -> bool:
        """Hosts on the bridge talk to each other even where FORWARD's policy is DROP (br_netfilter)."""
        argv = ["iptables", op, "FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise RuntimeFailure(f"{' '.join(argv)}: {result.stderr.strip()}")
        return result.returncode == 0

    def ensure_host(self, host: str, suffix: int) -> str:
        """A namespace for `host` with address 10.99.<net>.<suffix> on the bridge; returns the address."""
        self.ensure_bridge()
        ns, veth, address = self.netns(host), self._veth(host), self.address(suffix)
        if _ip("netns", "list", check=True).stdout.split().count(ns) == 0:
            _ip("netns", "add", ns)
        if _ip("link", "show", veth, check=False).returncode != 0:
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return address

    def remove(self) -> None:
        """Every namespace, veth and the bridge of this lab, and its firewall rule."""
        for ns in _ip("netns", "list", check=False).stdout.split():
            if ns.startswith(f"{self.tag}-"):
                _ip("netns", "del", ns, check=False)  # its end of the veth goes with it
        if _ip("link", "show", self.bridge, check=False).returncode == 0:
            _ip("link", "del", self.bridge, check=False)
        while self._forward_rule("-D", check=False):
            pass
