"""Run commands on a remote node over SSH (paramiko): known host keys only, keys or agent only,
never a password prompt, a timeout on connect and on every command."""

from __future__ import annotations

import shlex
from urllib.parse import urlparse

import paramiko

from cargohold.errors import RuntimeFailure
from cargohold.nodes.base import CommandResult

CONNECT_TIMEOUT = 10.0


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

    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            return self._client
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
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise RuntimeFailure(f"{self.name}: ssh {self.user}@{self.host}:{self.port}: {exc}") from None
        self._client = client
        return client

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        command = " ".join(shlex.quote(a) for a in argv)
        try:
            _, stdout, stderr = self._connect().exec_command(command, timeout=timeout)
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            code = stdout.channel.recv_exit_status()
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise RuntimeFailure(f"{self.name}: `{command[:60]}` over ssh failed: {exc}") from None
        return CommandResult(tuple(argv), code, out, err)

    def read_file(self, path: str, timeout: float = 10) -> str | None:
        result = self.run(["cat", path], timeout)
        return result.stdout if result.ok else None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
