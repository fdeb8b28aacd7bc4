"""One HAProxy (master-worker) per web node: start, check and reload its configuration without
dropping connections, and drive servers through the runtime API (the admin socket)."""

from __future__ import annotations

import contextlib
import csv
import io
import posixpath
import re
import signal
from collections.abc import Sequence

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.frontdoor.config import HEADER
from cargohold.frontdoor.host import DoorHost, LocalHost
from cargohold.wait import Timeout, wait_until

RELOAD_ATTEMPTS = 3
RELOAD_WAIT = 10.0  # seconds for each attempt
DRAIN_TIMEOUT = 15.0
# A backend, server or state in an admin-socket command: no space, `;` or newline can end it early.
_ADMIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


class HAProxy:
    """The front door of one node, on the host that node is (this machine or the node over SSH)."""

    def __init__(self, node: str, state_dir: str, host: DoorHost | None = None) -> None:
        self.node = node
        self.host: DoorHost = host or LocalHost(node)
        self.home = state_dir
        self.config = f"{state_dir}/haproxy.cfg"
        self.pidfile = f"{state_dir}/haproxy.pid"
        self.admin = f"{state_dir}/admin.sock"
        self.log = f"{state_dir}/haproxy.log"
        self.chroot = f"{state_dir}/chroot"
        self.log_socket = f"{state_dir}/log.sock"

    @property
    def chrooted_log_socket(self) -> str:
        """Where a chrooted worker finds `log_socket`: the same path, inside the chroot (the master,
        not chrooted, sends to log_socket itself). The log writer hard-links its socket there."""
        return self.chroot + "/" + self.log_socket.lstrip("/")

    def ensure_chroot(self) -> int:
        """The door's home, and in it an empty root-owned directory where only the log socket's path
        exists. Returns the gid of the workers' user."""
        gid = self.host.haproxy_gid()
        self.host.mkdirs([self.home, self.chroot, posixpath.dirname(self.chrooted_log_socket)], 0o755)
        return gid

    # -- process ------------------------------------------------------------------------------

    def master_pid(self) -> int | None:
        pid = self.host.pid(self.pidfile)
        return pid if pid is not None and self.host.alive(pid) else None

    def running(self) -> bool:
        return self._answers()  # the admin socket answers only while the master and a worker run

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

    def read_config(self) -> str | None:
        return self.host.read(self.config)

    def check(self, text: str) -> None:
        """`haproxy -c` on a candidate configuration; raises with HAProxy's own words."""
        self.ensure_chroot()
        candidate = f"{self.home}/haproxy.cfg.new"
        self.host.write(candidate, text.encode())
        result = self.host.run(["haproxy", "-c", "-q", "-f", candidate], 30)
        if result.code == 127 or "not found" in result.stderr and "haproxy" in result.stderr:
            raise RuntimeFailure(f"front door on {self.node}: haproxy is not installed (apt-get install haproxy)")
        if not result.ok:
            alerts = [line for line in (result.stdout + result.stderr).splitlines() if "ALERT" in line]
            raise UsageError(f"front door on {self.node}: configuration refused by haproxy -c: "
                             + " | ".join(alerts[:3] or [result.stderr.strip()[:300]]))

    def apply(self, text: str) -> str:
        """Make `text` the running configuration. Returns what was done: unchanged, started,
        servers (added/removed through the runtime API, no reload), reloaded.
        A configuration that fails to start leaves the previous one running and in place."""
        previous = self.read_config()
        running = self.running()
        if running and previous == text:
            return "unchanged"
        self.check(text)
        candidate = f"{self.home}/haproxy.cfg.new"
        if previous is not None and running and self._change_servers(previous, text):
            self.host.rename(candidate, self.config)
            return "servers"
        self.host.rename(candidate, self.config)
        try:
            if running:
                self._reload()
                return "reloaded"
            self._start()
            return "started"
        except RuntimeFailure:
            if previous is not None:
                self.host.write(self.config, previous.encode())
            raise

    def _start(self) -> None:
        self._stop_haproxy()
        self.host.unlink(self.admin)
        pid = self.host.spawn(["haproxy", "-W", "-f", self.config], self.log, self.pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: self._answers() or not self.host.alive(pid), 15, f"the front door on {self.node}")
        if not self._answers():
            self._stop_haproxy()
            raise RuntimeFailure(f"front door on {self.node} did not start: {self._log_tail()}")

    def _reload(self) -> None:
        """SIGUSR2 to the master: a new worker takes over the listening sockets (expose-fd
        listeners), old workers finish their requests and exit (hard-stop-after bounds them)."""
        master = self.master_pid()
        if master is None:
            raise RuntimeFailure(f"front door on {self.node}: its master process is gone")
        before = self.worker_pid()

        def new_worker() -> bool:
            # The socket is handed over: for a moment the old worker may still answer on it, so
            # "the old worker is gone" counts as well as "another pid answers".
            return self._answers() and (self.worker_pid() != before or not self.host.alive(before))

        # A SIGUSR2 that reaches the master while it still finishes the previous reload was seen to
        # be lost (rarely, under load): nothing changes, so the signal is sent again (a second
        # reload of the same configuration is harmless).
        for attempt in range(1, RELOAD_ATTEMPTS + 1):
            self.host.signal(master, signal.SIGUSR2)
            try:
                wait_until(new_worker, RELOAD_WAIT, f"a new front-door worker on {self.node}", interval=0.05)
                return
            except Timeout:
                if attempt == RELOAD_ATTEMPTS or self.master_pid() != master:
                    break
        raise RuntimeFailure(f"front door on {self.node}: reload did not take: {self._log_tail()}")

    def _stop_haproxy(self) -> None:
        pid = self.host.pid(self.pidfile)
        if pid is not None:
            self.host.stop(pid, 10, "haproxy")

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
        pid = self.host.pid(f"{self.home}/logd.pid")
        if pid is not None:
            self.host.stop(pid, 5, "logd.py")

    def ensure_log_writer(self, storage_root: str) -> None:
        """The process that files HAProxy's log lines into each site's log area (frontdoor/logd.py)."""
        pid = self.host.pid(f"{self.home}/logd.pid")
        if pid is not None and self.host.alive(pid):
            return
        group = self.ensure_chroot()
        sockets = [self.log_socket, self.chrooted_log_socket]
        for sock in sockets:
            self.host.unlink(sock)
        argv = [*self.host.logd_argv(self.home), sockets[0], storage_root, f"{self.home}/unrouted-access.log",
                sockets[1], str(group)]
        stderr = f"{self.home}/logd.stderr"
        pid = self.host.spawn(argv, stderr, f"{self.home}/logd.pid")

        def ready() -> bool:
            return all(self.host.exists(s) for s in sockets) or not self.host.alive(pid)

        with contextlib.suppress(Timeout):
            wait_until(ready, 10, f"the log writer on {self.node}")
        if not all(self.host.exists(s) for s in sockets) or not self.host.alive(pid):
            tail = (self.host.read(stderr) or "").strip().splitlines()[-1:]
            raise RuntimeFailure(f"front door on {self.node}: the log writer did not start: {' '.join(tail)}")

    def _log_tail(self) -> str:
        text = self.host.read(self.log)
        if text is None:
            return "(no log)"
        lines = [line for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-3:])

    # -- runtime API --------------------------------------------------------------------------

    def command(self, command: str) -> str:
        return self.host.admin(self.admin, command)

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

    def set_states(self, changes: Sequence[tuple[str, str, str]]) -> None:
        """Several (backend, server, state) changes in one admin-socket call (commands joined by `;`);
        a server this front door does not have is skipped, as set_state does."""
        for backend, server, state in changes:
            if not all(_ADMIN_WORD.fullmatch(word) for word in (backend, server, state)):
                raise RuntimeFailure(f"front door on {self.node}: refusing admin command for "
                                     f"{backend!r}/{server!r} state {state!r}")
        answer = self.command("; ".join(f"set server {b}/{s} state {st}" for b, s, st in changes))
        odd = [line for line in answer.splitlines()
               if line.strip() and "No such" not in line and "unknown" not in line.lower()]
        if odd:
            raise RuntimeFailure(f"front door on {self.node}: set server: {' | '.join(odd[:3])}")

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

