"""Run commands on a remote node over SSH (paramiko): known host keys only, keys or agent only,
never a password prompt, a timeout on connect and on every command."""

from __future__ import annotations

import shlex
import threading
import time
from urllib.parse import urlparse

import paramiko

from cargohold.errors import RuntimeFailure
from cargohold.nodes.base import CommandResult

CONNECT_TIMEOUT = 10.0
# Commands at once on one connection: well below OpenSSH's MaxSessions 10, since sshd frees a
# session's slot a moment after the client closed it.
MAX_SESSIONS = 4


class SSHExecutor:
    def __init__(self, name: str, target: str, known_hosts: str | None = None, key_file: str | None = None) -> None:
        """target: user@host[:port] or ssh://user@host[:port]. Host keys come from the user's
        known_hosts (or `known_hosts`); keys from the agent, ~/.ssh, or `key_file`."""
        parsed = urlparse(target if target.startswith("ssh://") else f"ssh://{target}")
        if not parsed.hostname:
            raise RuntimeFailure(f"{name}: {target!r} is not user@host[:port]")
        self.name = name
        self.host = parsed.hostname
        self.port = parsed.port or 22
        self.user = parsed.username or "root"
        self.known_hosts = known_hosts
        self.key_file = key_file
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()  # one connection, however many threads ask at once
        self._sessions = threading.BoundedSemaphore(MAX_SESSIONS)
        self.connections = 0  # how many times this executor connected (reuse is tested)
        # Why the last connect failed: a node that does not answer costs its timeout once per
        # command (until close), not once per question.
        self._failed: str | None = None

    def _connect(self) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client is not None else None
            if self._client is not None and transport is not None and transport.is_active():
                return self._client
            self._client = None
            if self._failed is not None:
                raise RuntimeFailure(self._failed)
            try:
                return self._open()
            except RuntimeFailure as exc:
                self._failed = str(exc)
                raise

    def _open(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts:
            client.load_host_keys(self.known_hosts)
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # unknown host key: refuse
        try:
            client.connect(
                self.host, port=self.port, username=self.user, timeout=CONNECT_TIMEOUT,
                banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT,
                allow_agent=self.key_file is None, look_for_keys=self.key_file is None, password=None,
                key_filename=self.key_file,
            )
        except paramiko.BadHostKeyException:
            raise RuntimeFailure(f"{self.name}: ssh {self.host}:{self.port}: its host key is not the one in "
                                 f"{self.known_hosts or '~/.ssh/known_hosts'}: refusing to connect") from None
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            reason = str(exc)
            if "not found in known_hosts" in reason:
                reason = (f"host key unknown (not in {self.known_hosts or '~/.ssh/known_hosts'}): "
                          "refusing to connect")
            raise RuntimeFailure(f"{self.name}: ssh {self.user}@{self.host}:{self.port}: {reason}") from None
        self._client = client
        self.connections += 1
        return client

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        command = " ".join(shlex.quote(a) for a in argv)
        # Each command is a session (channel) on the one connection; sshd allows MaxSessions (10 by
        # default) at once, so callers beyond MAX_SESSIONS wait their turn, and every channel is
        # closed as soon as its command ends.
        with self._sessions:
            try:
                _, stdout, stderr = self._exec(command, timeout)
                try:
                    out = stdout.read().decode(errors="replace")
                    err = stderr.read().decode(errors="replace")
                    code = stdout.channel.recv_exit_status()
                finally:
                    stdout.channel.close()
            except (TimeoutError, paramiko.SSHException, OSError) as exc:
                raise RuntimeFailure(f"{self.name}: `{command[:60]}` over ssh failed: {exc}") from None
        return CommandResult(tuple(argv), code, out, err)

    def _exec(self, command: str, timeout: float) -> tuple[object, paramiko.ChannelFile, paramiko.ChannelFile]:
        """exec_command, waiting (bounded) while sshd still counts just-closed sessions against
        its MaxSessions: it refuses a new one with "open failed" until it has freed them."""
        for attempt in range(20):
            try:
                _, out, err = self._connect().exec_command(command, timeout=timeout)
                return _, out, err
            except paramiko.SSHException as exc:  # ChannelException, or "Unable to open channel."
                refused = isinstance(exc, paramiko.ChannelException) or "Unable to open channel" in str(exc)
                if not refused or attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Over SFTP on the same connection: written whole under a temporary name (mode set before
        a byte is written), then renamed over `path`."""
        tmp = f"{path}.cargohold-tmp"
        try:
            with self._sessions:
                sftp = self._connect().open_sftp()
                try:
                    with sftp.open(tmp, "wb") as fh:
                        fh.chmod(mode)
                        fh.write(data)
                    sftp.posix_rename(tmp, path)
                finally:
                    sftp.close()
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise RuntimeFailure(f"{self.name}: cannot write {path} over sftp: {exc}") from None

    def read_file(self, path: str, timeout: float = 10) -> str | None:
        result = self.run(["cat", path], timeout)
        return result.stdout if result.ok else None

    def close(self) -> None:
        with self._lock:
            self._failed = None
            if self._client is not None:
                self._client.close()
                self._client = None
