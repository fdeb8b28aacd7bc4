"""Tiny HTTP client for tests: loopback and the lab's own namespace hosts only, every call bounded by
a timeout."""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.parse
import urllib.request

LAB_HOSTS = ipaddress.ip_network("10.99.0.0/16")  # lab/netns.py: the lab's bridge and namespace hosts


def allowed(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address in LAB_HOSTS


def http(method: str, url: str, data: bytes | None = None, timeout: float = 5,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    assert allowed(url), f"tests only talk to loopback and the lab's namespace hosts, not {url}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except (urllib.error.URLError, OSError):
        return 0, b"", {}


def get(url: str, timeout: float = 5) -> tuple[int, bytes, dict]:
    return http("GET", url, timeout=timeout)


def upload(base: str, name: str, body: bytes, timeout: float = 10) -> int:
    return http("POST", f"{base}/upload/{name}", body, timeout)[0]
