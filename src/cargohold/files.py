"""Writing a file whole or not at all, safely in a directory others may write to."""

from __future__ import annotations

import os
import secrets


def atomic_write(directory: str, name: str, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    """directory/name replaced whole: a temp file of an unpredictable name created with
    O_EXCL|O_NOFOLLOW in the same directory (a planted file or link makes it fail, never follow),
    with `mode` (and `owner`) from the start, fsync, rename over the name."""
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # not narrowed by the umask
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, os.path.join(directory, name))
