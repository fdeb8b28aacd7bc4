"""The front door's access log writer: HAProxy sends its log lines (syslog over a unix datagram
socket) here, and each line is appended to <storage root>/logs/<domain>/frontdoor-access.log, the
site's own log area. Lines for no site (404s) go to the front door's state directory.

Run by the front door itself: python3 logd.py SOCKET STORAGE_ROOT FALLBACK_FILE [LINK GID]. It
imports nothing but the standard library, so the front door of a remote node runs this very file,
copied there (python3 is all a web node needs for it).
"""

from __future__ import annotations

import os
import re
import socket
import stat
import sys

LOG_NAME = "frontdoor-access.log"
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*")  # as cargohold.fleet.fields (a test keeps them equal)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# cargohold's log-format puts "site=<backend>" in every line.
_SITE = re.compile(r" site=(\S+) ")


def append_site_line(root: str, domain: str, line: bytes) -> bool:
    """Append to logs/<domain>/frontdoor-access.log without following any link; False if the
    site has no log area (or it is not a plain directory)."""
    if len(domain) > 253 or not DOMAIN_RE.fullmatch(domain):
        return False
    opened: list[int] = []
    try:
        opened.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for part in ("logs", domain):  # each directory opened below its parent, never through a link
            opened.append(os.open(part, _DIR_FLAGS, dir_fd=opened[-1]))
        # O_NONBLOCK: a FIFO planted by the site fails at once instead of blocking every site's
        # logging; only a regular file is written to.
        fd = os.open(LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                     | os.O_NONBLOCK, 0o640, dir_fd=opened[-1])
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            os.write(fd, line)
        finally:
            os.close(fd)
        return True
    except OSError:
        return False
    finally:
        for fd in opened:
            os.close(fd)


def strip_syslog(datagram: bytes) -> bytes:
    """'<134>Nov 26 02:00:00 haproxy[12]: message' -> 'message\\n'."""
    text = datagram.decode(errors="replace").rstrip("\n")
    _, sep, message = text.partition("]: ")
    return ((message if sep else text) + "\n").encode()


def serve(sock_path: str, root: str, fallback: str, link: str | None = None, group: int | None = None) -> None:
    """Listen on sock_path; with `link`, the same socket also at that path (a hard link: HAProxy's
    chrooted workers find it there, its master at sock_path), writable by `group`."""
    if os.path.lexists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    if group is None:
        os.chmod(sock_path, 0o600)
    else:
        os.chown(sock_path, 0, group)  # the workers run as the haproxy user
        os.chmod(sock_path, 0o620)
    if link is not None:
        if os.path.lexists(link):
            os.unlink(link)
        os.link(sock_path, link)
    while True:
        handle(sock.recv(65536), root, fallback)


def handle(datagram: bytes, root: str, fallback: str) -> None:
    line = strip_syslog(datagram)
    match = _SITE.search(line.decode(errors="replace"))
    if match and append_site_line(root, match.group(1), line):
        return
    try:
        with open(fallback, "ab") as fh:
            fh.write(line)
    except OSError as exc:  # keep serving the other sites
        sys.stderr.write(f"cannot write {fallback}: {exc}\n")


if __name__ == "__main__":
    # SOCKET ROOT FALLBACK [LINK GID]: the socket also at LINK, writable by group GID
    link, gid = (sys.argv[4], int(sys.argv[5])) if len(sys.argv) > 5 else (None, None)
    serve(sys.argv[1], sys.argv[2], sys.argv[3], link, gid)
