"""Log lines as data, and the pure part of `cargohold logs`: the time a line carries, and merging."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LogLine", "line_time", "parse_since", "merge_by_time"]

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
# Common log format and HAProxy's %tr: 05/Dec/2026:06:53:26(.123)( +0000)
_CLF = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4})[: ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?: ([+-]\d{4}))?")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
_SINCE = re.compile(r"([1-9][0-9]{0,6})(s|m|h|d)")


@dataclass(frozen=True)
class LogLine:
    time: float  # unix seconds
    source: str  # "instance" (stdout/stderr), "frontdoor" (access log), "file <name>" (the log area)
    node: str  # "" for the log area (it is on the shared storage)
    instance: str  # the slot, "" when not one instance's
    text: str

    def to_json(self) -> dict[str, object]:
        return {"time": self.time, "source": self.source, "node": self.node, "instance": self.instance,
                "line": self.text}


def _zone(text: str | None) -> int:
    if not text or text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def line_time(text: str) -> float | None:
    """The time at the start of a log line (ISO 8601, or common log / HAProxy's format), as unix
    seconds; a time without a zone is UTC. None when the first 80 characters carry none."""
    head = text[:80]
    match = _ISO.search(head)
    if match:
        y, mo, d, h, mi, s = (int(match.group(i)) for i in range(1, 7))
        frac = float(match.group(7) or 0)
        return calendar.timegm((y, mo, d, h, mi, s)) + frac - _zone(match.group(8))
    match = _CLF.search(head)
    if match and match.group(2) in _MONTHS:
        d, y, h, mi, s = int(match.group(1)), int(match.group(3)), *(int(match.group(i)) for i in (4, 5, 6))
        frac = float(match.group(7) or 0)
        return calendar.timegm((y, _MONTHS[match.group(2)], d, h, mi, s)) + frac - _zone(match.group(8))
    return None


def parse_since(text: str, now: float) -> float:
    """--since: 10m, 2h, 1d ago, or an ISO time."""
    match = _SINCE.fullmatch(text)
    if match:
        return now - int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    at = line_time(text)
    if at is None or not _ISO.fullmatch(text):
        raise ValueError(f"--since {text!r}: give a duration (10m, 2h, 1d) or a time (2026-12-05T06:30:00Z)")
    return at


def merge_by_time(lines: Iterable[LogLine]) -> list[LogLine]:
    """Every source's lines in one time order; a source's own order is kept among equal times."""
    return sorted(lines, key=lambda line: line.time)
