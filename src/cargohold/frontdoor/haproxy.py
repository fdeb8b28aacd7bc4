"""One HAProxy (master-worker) per web node: start, check and reload its configuration without
dropping connections, and drive servers through the runtime API (the admin socket)."""

from __future__ import annotations

import contextlib
import csv
import grp
import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.frontdoor.config import HEADER
from cargohold.process import pid_alive, read_pid, spawn, stop_pid
from cargohold.wait import Timeout, wait_until

# Workers run as this user (Debian's haproxy package creates it) in an empty chroot of their own.
HAPROXY_USER = "haproxy"
RELOAD_ATTEMPTS = 3
RELOAD_WAIT = 10.0  # seconds for each attempt
SOCKET_TIMEOUT = 5.0
DRAIN_TIMEOUT = 15.0


class HAProxy:
    def __init__(self, node: str, state_dir: str) -> None:
        self.node = node
        self.home = Path(state_dir)
        self.config = self.home / "haproxy.cfg"
        self.pidfile = self.home / "haproxy.pid"
        self.admin = self.home / "admin.sock"
        self.log = self.home / "haproxy.log"
        self.chroot = self.home / "chroot"
        self.log_socket = self.home / "log.sock"

    @property
    def chrooted_log_socket(self) -> Path:
        """Where a chrooted worker finds `log_socket`: the same path, inside the chroot (the master,
        not chrooted, sends to log_socket itself). The log writer hard-links its socket there."""
        return self.chroot / str(self.log_socket).lstrip("/")

    def ensure_chroot(self) -> None:
        """An empty root-owned directory; only the log socket's path exists inside it."""
        try:
            pwd.getpwnam(HAPROXY_USER)
        except KeyError:
            raise RuntimeFailure(f"front door on {self.node}: no user {HAPROXY_USER!r} to run HAProxy's workers as "
                                 "(apt-get install haproxy creates it)") from None
        self.chroot.mkdir(parents=True, exist_ok=True)
        os.chmod(self.chroot, 0o755)
        self.chrooted_log_socket.parent.mkdir(parents=True, exist_ok=True)

    # -- process ------------------------------------------------------------------------------

    def master_pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid is not None and pid_alive(pid) else None

    def running(self) -> bool:
        return self.master_pid() is not None and self._answers()

    def _answers(self) -> bool:
        try:
            return "Pid:" in self.command("show info")
        except RuntimeFailure:
            return False

    def worker_pid(self) -> int:
        for line in self.command("show info").splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        raise RuntimeFailure(f"front door on {self.node}: `show info` has no Pid")

    def check(self, text: str) -> None:
        """`haproxy -c` on a candidate configuration; raises with HAProxy's own words."""
        if shutil.which("haproxy") is None:
            raise RuntimeFailure("haproxy is not installed (run scripts/setup, or apt-get install haproxy)")
        self.home.mkdir(parents=True, exist_ok=True)
        self.ensure_chroot()
        candidate = self.home / "haproxy.cfg.new"
        candidate.write_text(text)
        result = subprocess.run(["haproxy", "-c", "-q", "-f", str(candidate)], capture_output=True, text=True,
                                timeout=30)
        if result.returncode != 0:
            alerts = [line for line in (result.stdout + result.stderr).splitlines() if "ALERT" in line]
            raise UsageError(f"front door on {self.node}: configuration refused by haproxy -c: "
                             + " | ".join(alerts[:3] or [result.stderr.strip()[:300]]))

    def apply(self, text: str) -> str:
        """Make `text` the running configuration. Returns what was done: unchanged, started,
        servers (added/removed through the runtime API, no reload), reloaded.
        A configuration that fails to start leaves the previous one running and in place."""
        if self.running() and self.config.exists() and self.config.read_text() == text:
            return "unchanged"
        self.check(text)
        previous = self.config.read_text() if self.config.exists() else None
        if previous is not None and self.running() and self._change_servers(previous, text):
            os.replace(self.home / "haproxy.cfg.new", self.config)
            return "servers"
        os.replace(self.home / "haproxy.cfg.new", self.config)
        try:
            if self.running():
                self._reload()
                return "reloaded"
            self._start()
            return "started"
        except RuntimeFailure:
            if previous is not None:
                self.config.write_text(previous)
            raise

    def _start(self) -> None:
        self._stop_haproxy()
        self.admin.unlink(missing_ok=True)
        pid = spawn(["haproxy", "-W", "-f", str(self.config)], self.log, self.pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: self._answers() or not pid_alive(pid), 15, f"the front door on {self.node}")
        if not self._answers():
            self._stop_haproxy()
            raise RuntimeFailure(f"front door on {self.node} did not start: {self._log_tail()}")

    def _reload(self) -> None:
        """SIGUSR2 to the master: a new worker takes over the listening sockets (expose-fd
        listeners), old workers finish their requests and exit (hard-stop-after bounds them)."""
        master = self.master_pid()
        assert master is not None
        before = self.worker_pid()

        def new_worker() -> bool:
            # The socket is handed over: for a moment the old worker may still answer on it, so
            # "the old worker is gone" counts as well as "another pid answers".
            return self._answers() and (self.worker_pid() != before or not pid_alive(before))

        # A SIGUSR2 that reaches the master while it still finishes the previous reload was seen to
        # be lost (rarely, under load): nothing changes, so the signal is sent again (a second
        # reload of the same configuration is harmless).
        for attempt in range(1, RELOAD_ATTEMPTS + 1):
            os.kill(master, signal.SIGUSR2)
            try:
                wait_until(new_worker, RELOAD_WAIT, f"a new front-door worker on {self.node}", interval=0.05)
                return
            except Timeout:
                if attempt == RELOAD_ATTEMPTS or self.master_pid() != master:
                    break
        raise RuntimeFailure(f"front door on {self.node}: reload did not take: {self._log_tail()}")

    def _stop_haproxy(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, grace=10, expect="haproxy")

    def _change_servers(self, old: str, new: str) -> bool:
        """When the two configurations differ only in `server` lines, make the change through the
        runtime API (add server / del server) and return True; otherwise change nothing, False."""
        old_servers, new_servers = server_lines(old), server_lines(new)
        moved = [k for k in old_servers if k in new_servers and old_servers[k] != new_servers[k]]
        if strip_servers(old) != strip_servers(new) or moved:
            return False
        check = check_params(new)
        for backend, name in sorted(set(old_servers) - set(new_servers)):
            self.set_state(backend, name, "maint")
            self._wait_idle(backend, name)
            answer = self.command(f"del server {backend}/{name}").strip()
            if answer and "deleted" not in answer.lower():
                raise RuntimeFailure(f"front door on {self.node}: del server {backend}/{name}: {answer}")
        for (backend, name), address in sorted(new_servers.items()):
            if (backend, name) in old_servers:
                continue
            answer = self.command(f"add server {backend}/{name} {address} check {check}").strip()
            if "registered" not in answer.lower():  # HAProxy 2.6 says "New server registered."
                raise RuntimeFailure(f"front door on {self.node}: add server {backend}/{name}: {answer}")
            for command in (f"enable health {backend}/{name}", f"enable server {backend}/{name}"):
                answer = self.command(command).strip()
                if answer:
                    raise RuntimeFailure(f"front door on {self.node}: {command}: {answer}")
        return True

    def _wait_idle(self, backend: str, server: str, timeout: float = DRAIN_TIMEOUT) -> None:
        def idle() -> bool:
            row = next((r for r in self.stats() if r["pxname"] == backend and r["svname"] == server), None)
            return row is None or row.get("scur", "0") in ("", "0")

        with contextlib.suppress(Timeout):
            wait_until(idle, timeout, f"{backend}/{server} to finish its requests", interval=0.05)

    def stop(self) -> None:
        self._stop_haproxy()
        pid = read_pid(self.home / "logd.pid")
        if pid is not None:
            stop_pid(pid, grace=5, expect="cargohold.frontdoor.logd")

    def ensure_log_writer(self, storage_root: str) -> None:
        """The process that files HAProxy's log lines into each site's log area (frontdoor/logd.py)."""
        pid = read_pid(self.home / "logd.pid")
        if pid is not None and pid_alive(pid):
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.ensure_chroot()
        sockets = [self.log_socket, self.chrooted_log_socket]
        for sock in sockets:
            sock.unlink(missing_ok=True)
        group = grp.getgrnam(HAPROXY_USER).gr_gid
        argv = [sys.executable, "-m", "cargohold.frontdoor.logd", str(sockets[0]), storage_root,
                str(self.home / "unrouted-access.log"), str(sockets[1]), str(group)]
        pid = spawn(argv, self.home / "logd.stderr", self.home / "logd.pid")
        with contextlib.suppress(Timeout):
            wait_until(lambda: all(s.exists() for s in sockets) or not pid_alive(pid), 10,
                       f"the log writer on {self.node}")
        if not all(s.exists() for s in sockets) or not pid_alive(pid):
            stderr = self.home / "logd.stderr"
            tail = stderr.read_text(errors="replace").strip().splitlines()[-1:] if stderr.exists() else []
            raise RuntimeFailure(f"front door on {self.node}: the log writer did not start: {' '.join(tail)}")

    def _log_tail(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])

    # -- runtime API --------------------------------------------------------------------------

    def command(self, command: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(SOCKET_TIMEOUT)
                sock.connect(str(self.admin))
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise RuntimeFailure(f"front door on {self.node}: admin socket: {exc}") from None
        return b"".join(chunks).decode(errors="replace")

    def stats(self) -> list[dict[str, str]]:
        text = self.command("show stat")
        if not text.startswith("# "):
            raise RuntimeFailure(f"front door on {self.node}: unexpected `show stat` answer: {text[:100]!r}")
        return list(csv.DictReader(io.StringIO(text[2:])))

    def server_state(self, backend: str, server: str) -> str | None:
        for row in self.stats():
            if row["pxname"] == backend and row["svname"] == server:
                return row["status"]
        return None

    def set_state(self, backend: str, server: str, state: str) -> bool:
        """ready, drain or maint; False when the front door has no such server (nothing to do)."""
        answer = self.command(f"set server {backend}/{server} state {state}").strip()
        if answer and ("No such" in answer or "unknown" in answer.lower()):
            return False
        if answer:
            raise RuntimeFailure(f"front door on {self.node}: set server {backend}/{server}: {answer}")
        return True

    def drain(self, backend: str, server: str, timeout: float = DRAIN_TIMEOUT) -> None:
        """Send no new requests to the server and wait (bounded) for its requests in flight."""
        if not self.running() or not self.set_state(backend, server, "drain"):
            return
        self._wait_idle(backend, server, timeout)


def server_lines(text: str) -> dict[tuple[str, str], str]:
    """(backend, server) -> address:port of every `server` line."""
    servers: dict[tuple[str, str], str] = {}
    backend = ""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["backend"]:
            backend = words[1]
        elif words[:1] == ["server"] and backend:
            servers[(backend, words[1])] = words[2]
    return servers


def strip_servers(text: str) -> str:
    """The configuration without its servers (and without the hash line, which changes with them)."""
    return "\n".join(line for line in text.splitlines()
                     if not line.strip().startswith("server ") and not line.startswith(HEADER))


def check_params(text: str) -> str:
    """The `default-server` check settings, which a server added at run time does not inherit."""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["default-server"]:
            return " ".join(w for w in words[1:] if w != "check")
    return ""

