"""`env_file:` of a site: NAME=VALUE lines in a file of its own (0600, not in the fleet file), so a
database password need not sit in the fleet file or in its repository."""

from __future__ import annotations

import os
import stat

from cargohold.fleet.fields import check_env_name, control_character


def read_env_file(path: str) -> dict[str, str]:
    """The file's variables; ValueError naming the line for anything unsafe or malformed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ValueError(f"cannot open {path}: {exc.strerror or exc} (a symlink is refused)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if st.st_mode & 0o077:
            raise ValueError(f"{path} has mode {stat.S_IMODE(st.st_mode):04o}: an env file holds secrets, "
                             "make it readable by its owner only (chmod 600)")
        data = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: not NAME=VALUE")
        try:
            check_env_name(name.strip())
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if control_character(value):
            raise ValueError(f"{path}:{number}: {name.strip()}: the value contains a control character "
                             f"({control_character(value)})")
        values[name.strip()] = value
    return values
