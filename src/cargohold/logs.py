"""`cargohold logs`: a site's logs from every place they are, merged by time.

- each instance's stdout and stderr, through its node's Engine API (the runtime driver's streams:
  swarm's task containers are read on each node's own engine);
- the files of the site's log area (`<root>/logs/<domain>/`, read through the storage mount on this
  machine, no link followed, nothing outside the area): the front door's access log
  (`frontdoor-access.log`) and the application's own files.

A line's time: the engine's timestamp for instances; for files, the time the line starts with
(ISO 8601, or the common log / HAProxy format; no zone means UTC), else the previous line's, else
the file's modification time.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cargohold.errors import StorageError, UsageError
from cargohold.model import LogLine, line_time, merge_by_time

if TYPE_CHECKING:
    from cargohold.backends import Backends
    from cargohold.fleet.schema import Fleet
    from cargohold.seam import LogStream

ACCESS_LOG = "frontdoor-access.log"
MAX_FILES = 200  # a log area with more files than this is read for its newest ones only


@dataclass
class AreaTail:
    """The files of a log area, each read from where the last read stopped."""

    directory: str
    since: float | None
    offsets: dict[str, int] = field(default_factory=dict)
    last_time: dict[str, float] = field(default_factory=dict)
    partial: dict[str, bytes] = field(default_factory=dict)

    def _files(self) -> list[tuple[str, os.stat_result]]:
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(f"log area {self.directory}: {exc.strerror or exc}") from None
        try:
            found = []
            for name in os.listdir(fd):
                if name.startswith("."):
                    continue
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):  # a link or a directory is never followed
                    found.append((name, st))
            return sorted(found, key=lambda f: f[1].st_mtime)[-MAX_FILES:]
        finally:
            os.close(fd)

    def read(self) -> list[LogLine]:
        """Every line added since the last read (all of each file the first time)."""
        lines: list[LogLine] = []
        for name, st in self._files():
            offset = self.offsets.get(name, 0)
            if st.st_size < offset:  # truncated or rotated in place: start again
                offset, self.partial[name] = 0, b""
            if st.st_size == offset:
                continue
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                data = os.pread(fd, min(st.st_size - offset, 64 << 20), offset)
            finally:
                os.close(fd)
            self.offsets[name] = offset + len(data)
            data = self.partial.pop(name, b"") + data
            *complete, rest = data.split(b"\n")
            if rest:
                self.partial[name] = rest
            source = "frontdoor" if name == ACCESS_LOG else f"file {name}"
            at = self.last_time.get(name, st.st_mtime)
            for raw in complete:
                text = raw.decode(errors="replace")
                at = line_time_or(text, at)
                if self.since is None or at >= self.since:
                    lines.append(LogLine(at, source, "", "", text))
            self.last_time[name] = at
        return lines


def line_time_or(text: str, default: float) -> float:
    found = line_time(text)
    return default if found is None else found


@dataclass
class Sources:
    streams: list[LogStream]
    area: AreaTail | None
    refresh: Callable[[], list[LogStream]]  # the instances now (a rollout starts new ones)


def sources(fleet: Fleet, backends: Backends, domain: str, since: float | None, node: str | None,
            instance: int | None) -> Sources:
    """What `logs` reads for `domain`; exit 2 for a domain, node or instance the fleet file does not have."""
    site = next((s for s in fleet.sites if s.domain == domain), None)
    if site is None:
        raise UsageError(f"{domain} is not a site of the fleet file")
    if node is not None and node not in {n.name for n in fleet.nodes}:
        raise UsageError(f"--node {node}: not a node of the fleet file")
    if instance is not None and not 1 <= instance <= site.instances:
        raise UsageError(f"--instance {instance}: {domain} has instances 1 to {site.instances}")
    def current() -> list[LogStream]:
        return [s for s in backends.runtime.log_streams(fleet.fleet, domain)
                if (node is None or s.node == node) and (instance is None or s.instance == str(instance))]

    streams = current()
    area = None
    if node is None and instance is None and site.logs:  # the area is the site's, not one instance's
        state = backends.storage.check_root(fleet.fleet)
        if not state.ok:
            raise StorageError(f"storage root {state.root}: {state.reason}; the log area cannot be read")
        path = backends.storage.area_path(f"logs/{domain}")
        area = AreaTail(path, since) if path is not None else None
    return Sources(streams, area, current)


def backlog(found: Sources, since: float | None) -> tuple[list[LogLine], dict[int, float]]:
    """Every line so far, merged by time; and the newest time seen per stream (to follow from)."""
    lines: list[LogLine] = []
    newest: dict[int, float] = {}
    for i, stream in enumerate(found.streams):
        for at, text in stream.lines(since, follow=False):
            lines.append(LogLine(at, "instance", stream.node, stream.instance, text))
            newest[i] = max(newest.get(i, 0.0), at)
    if found.area is not None:
        lines += found.area.read()
    return merge_by_time(lines), newest


def follow(found: Sources, newest: dict[int, float], stop: threading.Event,
           poll: float = 0.25, rescan: float = 2.0) -> Iterator[LogLine]:
    """New lines from every source as they come, until `stop` is set (Ctrl-C); instances that start
    meanwhile (a rollout, a scale-up) are followed from their first line."""
    lines: queue.Queue[LogLine] = queue.Queue()
    followed = {s.id for s in found.streams}

    def pump(after: float | None, stream: LogStream) -> None:
        try:
            for at, text in stream.lines(after, follow=True):
                if after is not None and at <= after:
                    continue  # already printed (the engine's `since` counts in whole seconds)
                lines.put(LogLine(at, "instance", stream.node, stream.instance, text))
                if stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - a stream that ends says why, the others go on
            lines.put(LogLine(time.time(), "cargohold", stream.node, stream.instance, f"stream ended: {exc}"))

    for i, stream in enumerate(found.streams):
        threading.Thread(target=pump, args=(newest.get(i), stream), daemon=True).start()
    next_poll, next_scan = 0.0, time.monotonic() + rescan
    while not stop.is_set():
        if time.monotonic() >= next_scan:
            for stream in found.refresh():
                if stream.id not in followed:
                    followed.add(stream.id)
                    threading.Thread(target=pump, args=(None, stream), daemon=True).start()
            next_scan = time.monotonic() + rescan
        if found.area is not None and time.monotonic() >= next_poll:
            for line in found.area.read():
                lines.put(line)
            next_poll = time.monotonic() + poll
        try:
            yield lines.get(timeout=poll / 2)
        except queue.Empty:
            continue

