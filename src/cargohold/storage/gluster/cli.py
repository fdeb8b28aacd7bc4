"""The low layer for GlusterFS: `gluster` CLI calls through an Executor, and parsers of its XML.

Every call runs with --mode=script (never prompts) and a timeout (the CLI can hang for minutes
when a peer vanishes). Reads use --xml; a failed --xml call still exits 0, so <opRet> decides.
The parsers are pure functions over XML text, unit-tested against captured output.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

from cargohold.errors import RuntimeFailure
from cargohold.model import Brick, BrickStatus, HealSummary, Peer, VolumeInfo
from cargohold.nodes.base import CommandResult, Executor

GLUSTER_TIMEOUT = 30.0
LOCK_WAIT = 60.0  # how long to retry while glusterd says another transaction holds the lock
LOCK_BUSY = ("Another transaction is in progress", "Locking failed on")
GLFSHEAL = "/usr/lib/x86_64-linux-gnu/glusterfs/glfsheal"


class GlusterError(RuntimeFailure):
    """A gluster command answered with an error (opRet != 0)."""


def _root(text: str, what: str) -> ET.Element:
    try:
        return ET.fromstring(text.strip())
    except ET.ParseError:
        raise GlusterError(f"{what}: gluster answered with something that is not XML: {text.strip()[:200]!r}") from None


def check_op(root: ET.Element, what: str) -> None:
    ret = root.findtext("opRet")
    if ret is not None and ret.strip() != "0":
        err = (root.findtext("opErrstr") or root.findtext("output") or "failed").strip()
        raise GlusterError(f"{what}: {err}")


def parse_pool(text: str) -> list[Peer]:
    root = _root(text, "pool list")
    check_op(root, "pool list")
    return [
        Peer((p.findtext("hostname") or "").strip(), (p.findtext("connected") or "0").strip() == "1")
        for p in root.iter("peer")
    ]


def parse_volume_info(text: str, volume: str) -> VolumeInfo | None:
    root = _root(text, f"volume info {volume}")
    if (root.findtext("opRet") or "0").strip() != "0":
        if "does not exist" in (root.findtext("opErrstr") or ""):
            return None
        check_op(root, f"volume info {volume}")
    for vol in root.iter("volume"):
        if (vol.findtext("name") or "") != volume:
            continue
        bricks = []
        for b in vol.iter("brick"):
            name = (b.findtext("name") or "").strip()
            address, _, path = name.partition(":")
            bricks.append(Brick(address, path, (b.findtext("isArbiter") or "0").strip() == "1"))
        options = {
            (o.findtext("name") or "").strip(): (o.findtext("value") or "").strip() for o in vol.iter("option")
        }
        return VolumeInfo(
            name=volume,
            status=(vol.findtext("statusStr") or "").strip(),
            replica=int(vol.findtext("replicaCount") or 1),
            arbiter=int(vol.findtext("arbiterCount") or 0),
            bricks=tuple(bricks),
            options=options,
        )
    return None


def parse_volume_status(text: str, volume: str) -> list[BrickStatus]:
    """Bricks only (self-heal daemons and the like have a name, not an address, as hostname)."""
    root = _root(text, f"volume status {volume}")
    check_op(root, f"volume status {volume}")
    out = []
    for node in root.iter("node"):
        path = (node.findtext("path") or "").strip()
        if not path.startswith("/"):
            continue
        pid = (node.findtext("pid") or "").strip()
        out.append(BrickStatus(
            address=(node.findtext("hostname") or "").strip(),
            path=path,
            online=(node.findtext("status") or "0").strip() == "1",
            pid=int(pid) if pid.isdigit() else 0,
        ))
    return out


def parse_heal_summary(text: str) -> list[HealSummary]:
    root = _root(text, "heal info-summary")
    check_op(root, "heal info-summary")
    out = []
    for b in root.iter("brick"):
        def number(tag: str, b: ET.Element = b) -> int:
            value = (b.findtext(tag) or "0").strip()
            return int(value) if value.isdigit() else 0

        out.append(HealSummary(
            brick=(b.findtext("name") or "").strip(),
            connected=(b.findtext("status") or "").strip() == "Connected",
            pending=number("numberOfEntriesInHealPending") + number("numberOfEntriesPossiblyHealing"),
            split_brain=number("numberOfEntriesInSplitBrain"),
        ))
    return out


def parse_heal_count(text: str) -> dict[str, int]:
    """`volume heal VOL statistics heal-count` has no XML form (its --xml answer is text); it is the
    one read that must parse text, and it stays fast at any backlog, unlike glfsheal."""
    counts: dict[str, int] = {}
    brick = None
    for line in text.splitlines():
        match = re.match(r"^Brick (\S+)", line.strip())
        if match:
            brick = match.group(1)
            continue
        match = re.match(r"^Number of entries: (\d+)", line.strip())
        if match and brick is not None:
            counts[brick] = int(match.group(1))
    if not counts:
        raise GlusterError(f"heal-count: unexpected answer: {text.strip()[:200]!r}")
    return counts


class GlusterCLI:
    """`gluster` on one server, through its executor (and, in the lab, its own glusterd socket)."""

    def __init__(self, executor: Executor, socket: str | None = None, timeout: float = GLUSTER_TIMEOUT) -> None:
        self.executor = executor
        self.socket = socket
        self.timeout = timeout

    def argv(self, *args: str, xml: bool = False) -> list[str]:
        """The command line; refuses an argument the gluster CLI could read as a flag of its own
        (a leading '-') or that is not one word (the values come from fleet files)."""
        for arg in args:
            if not arg or arg.startswith("-") or any(ch.isspace() or not ch.isprintable() for ch in arg):
                raise GlusterError(f"refusing to pass {arg!r} to gluster: not one word, or reads as a flag")
        sock = [f"--glusterd-sock={self.socket}"] if self.socket else []
        return ["gluster", *sock, "--mode=script", *args, *(["--xml"] if xml else [])]

    def _run(self, argv: list[str], timeout: float | None) -> CommandResult:
        """Run, retrying while another operation holds the volume's cluster lock (seconds, usually)."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            result = self.executor.run(argv, timeout or self.timeout)
            busy = any(text in result.stdout + result.stderr for text in LOCK_BUSY)
            if not busy or time.monotonic() >= deadline:
                return result
            time.sleep(1)

    def xml(self, *args: str, timeout: float | None = None) -> str:
        result = self._run(self.argv(*args, xml=True), timeout)
        if not result.stdout.strip().startswith("<"):
            raise GlusterError(f"gluster {' '.join(args)} on {self.executor.name}: {result.brief()}")
        return result.stdout

    def call(self, *args: str, timeout: float | None = None) -> None:
        """A command that changes something; raises GlusterError with gluster's own words."""
        text = self.xml(*args, timeout=timeout)
        check_op(_root(text, " ".join(args)), f"gluster {' '.join(args)}")

    def pool(self) -> list[Peer]:
        return parse_pool(self.xml("pool", "list"))

    def volume_info(self, volume: str) -> VolumeInfo | None:
        return parse_volume_info(self.xml("volume", "info", volume), volume)

    def volume_status(self, volume: str) -> list[BrickStatus]:
        return parse_volume_status(self.xml("volume", "status", volume), volume)

    def heal_count(self, volume: str) -> dict[str, int]:
        result = self._run(self.argv("volume", "heal", volume, "statistics", "heal-count"), self.timeout)
        if not result.ok:
            raise GlusterError(f"heal-count {volume} on {self.executor.name}: {result.brief()}")
        return parse_heal_count(result.stdout)

    def heal_summary(self, volume: str, timeout: float = 60) -> list[HealSummary]:
        """`gluster volume heal VOL info` needs the system glusterd's socket; its helper takes ours."""
        sock = ["glusterd-sock", self.socket] if self.socket else []
        result = self.executor.run([GLFSHEAL, volume, "info-summary", "--xml", *sock], timeout)
        return parse_heal_summary(result.stdout)

    def quota_limit(self, volume: str, path: str) -> int | None:
        """The hard limit set on path, or None (no limit or quota off)."""
        text = self.xml("volume", "quota", volume, "list", path)
        root = _root(text, "quota list")
        if (root.findtext("opRet") or "0").strip() != "0":
            return None
        value = root.findtext(".//hard_limit")
        return int(value) if value and value.strip().isdigit() else None
