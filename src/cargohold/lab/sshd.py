"""An sshd of the lab's own on loopback, with its own host key, client key and known_hosts, so the
SSH executor is tested against a real server (no system sshd, no system keys)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cargohold.errors import RuntimeFailure
from cargohold.process import pid_alive, read_pid, spawn, stop_pid
from cargohold.wait import Timeout, wait_until


@dataclass(frozen=True)
class LabSSHD:
    home: Path  # <lab>/sshd
    port: int = 2222
    address: str = "127.0.0.1"
    # An isolated node's sshd: the argv prefix that enters its namespaces, and the key that every
    # node of that lab accepts (default: a key of this sshd's own).
    enter: tuple[str, ...] = ()
    accepts: Path | None = None

    @property
    def host_key(self) -> Path:
        return self.home / "host_key"

    @property
    def client_key(self) -> Path:
        return self.accepts or self.home / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.home / "known_hosts"

    @property
    def pidfile(self) -> Path:
        return self.home / "sshd.pid"

    @property
    def target(self) -> str:
        return f"root@{self.address}:{self.port}"

    def start(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None and pid_alive(pid):
            return
        self.home.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
        (self.home / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[{self.address}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        config = self.home / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress {self.address}\nHostKey {self.host_key}\nPidFile {self.pidfile}\n"
            f"AuthorizedKeysFile {self.home / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "Subsystem sftp internal-sftp\n"
        )
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        pid = spawn([*self.enter, "/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(self.home / "sshd.log")],
                    self.home / "sshd.stdout", self.pidfile)
        with contextlib.suppress(Timeout):
            wait_until(lambda: (self.home / "sshd.log").exists() and "listening" in (self.home / "sshd.log").read_text()
                       or not pid_alive(pid), 15, "sshd to listen")
        if not pid_alive(pid):
            raise RuntimeFailure(f"the lab sshd did not start: {(self.home / 'sshd.log').read_text()[-300:]}")

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, grace=5, expect=str(self.home))
