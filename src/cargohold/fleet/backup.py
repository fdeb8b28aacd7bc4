"""The fleet file's `backup:` section (restic) and each site's override, checked before anything runs.

    backup:
      repository: /srv/backup/restic        # or sftp:user@host:/path, rest:https://host:8000/repo
      password_file: /etc/cargohold/restic.pass   # 0600, never printed
      every: 24h                            # a site is due this long after its last good backup
      verify_every: 7d                      # the restore drill's schedule
      keep: {daily: 7, weekly: 4, monthly: 6}
    sites:
      - domain: www.example.com
        backup: {every: 6h, keep: {hourly: 24, daily: 7}}   # or `backup: false`
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from cargohold.fleet.fields import AbsolutePath, Model, check_absolute_path

_DURATION_RE = re.compile(r"([1-9][0-9]{0,6})(s|m|h|d|w)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# A restic repository this tool passes as one argument: a local absolute path, sftp:user@host:/path,
# or rest:http(s)://host[:port]/path. Never a flag, never a space or a quote.
_SFTP_RE = re.compile(r"sftp:[a-z_][a-z0-9_.-]{0,31}@[A-Za-z0-9.-]{1,253}:/[A-Za-z0-9._/-]{0,1000}")
_REST_RE = re.compile(r"rest:https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._/-]{0,1000})?")
KEEP_KINDS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def parse_duration(text: str) -> int:
    """'24h' -> 86400; s, m, h, d, w."""
    match = _DURATION_RE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d (s, m, h, d, w)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def check_duration(text: str) -> str:
    parse_duration(text)
    return text


def check_repository(value: str) -> str:
    if value.startswith("/"):
        check_absolute_path(value)
        return value
    if value.startswith("sftp:"):
        if not _SFTP_RE.fullmatch(value) or "/../" in value or value.endswith("/.."):
            raise ValueError(f"{value!r} is not sftp:user@host:/absolute/path")
        return value
    if value.startswith("rest:"):
        if not _REST_RE.fullmatch(value) or "/../" in value:
            raise ValueError(f"{value!r} is not rest:http(s)://host[:port]/path")
        return value
    raise ValueError(f"{value!r} is not a restic repository cargohold takes: an absolute path, "
                     "sftp:user@host:/path or rest:https://host:port/path")


Duration = Annotated[str, AfterValidator(check_duration)]
Repository = Annotated[str, AfterValidator(check_repository)]


class Keep(Model):
    """Retention, restic's `forget --keep-*`: how many of the newest snapshots to keep per period."""

    last: int | None = Field(None, ge=1, le=10000)
    hourly: int | None = Field(None, ge=1, le=10000)
    daily: int | None = Field(None, ge=1, le=10000)
    weekly: int | None = Field(None, ge=1, le=10000)
    monthly: int | None = Field(None, ge=1, le=10000)
    yearly: int | None = Field(None, ge=1, le=10000)

    @model_validator(mode="after")
    def _something(self) -> Keep:
        if all(getattr(self, k) is None for k in KEEP_KINDS):
            raise ValueError("keep: give at least one of last, hourly, daily, weekly, monthly, yearly "
                             "(keeping nothing would delete every snapshot)")
        return self

    def as_dict(self) -> dict[str, int]:
        return {k: v for k in KEEP_KINDS if (v := getattr(self, k)) is not None}


def default_keep() -> Keep:
    return Keep(daily=7, weekly=4, monthly=6)


class Backup(Model):
    repository: Repository
    password_file: AbsolutePath
    every: Duration = "24h"
    verify_every: Duration = "7d"
    keep: Keep = Field(default_factory=default_keep)
    # restic's local cache (indexes): faster incremental backups.
    cache_dir: AbsolutePath = "/var/cache/cargohold/restic"
    # The drill reads 1/N of the repository's data each time (rotating: N drills read all of it).
    check_slices: int = Field(10, ge=1, le=1000)


class SiteBackup(Model):
    """A site's own schedule, retention or repository; `backup: false` leaves the site out."""

    repository: Repository | None = None
    password_file: AbsolutePath | None = None
    every: Duration | None = None
    verify_every: Duration | None = None
    keep: Keep | None = None

    @model_validator(mode="after")
    def _pair(self) -> SiteBackup:
        if (self.repository is None) != (self.password_file is None):
            raise ValueError("a site's own repository needs its own password_file too (and the other way round)")
        return self
