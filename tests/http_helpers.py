"""Tiny HTTP client for tests: loopback only, every call bounded by a timeout."""

from __future__ import annotations

import urllib.error
import urllib.request


def http(method: str, url: str, data: bytes | None = None, timeout: float = 5) -> tuple[int, bytes, dict]:
    assert url.startswith("http://127."), "tests only talk to loopback"
    req = urllib.request.Request(url, data=data, method=method)
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
