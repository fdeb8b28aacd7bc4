"""`cargohold deploy DOMAIN IMAGE`: what a CI job calls after it pushed an image.

Sets the site's image in the fleet file (keeping its comments and layout), converges, and succeeds
only when the new version is healthy on every instance; otherwise it puts the previous image back
in the file, converges again (a rollback) and fails with a one-line reason.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from cargohold.errors import CargoholdError, FleetError, RuntimeFailure, UsageError
from cargohold.files import atomic_write
from cargohold.fleet.fields import check_image
from cargohold.fleet.load import parse_fleet


@dataclass(frozen=True)
class ImageEdit:
    path: Path
    old_text: str
    new_text: str
    old_image: str


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def edit_image(path: Path, domain: str, image: str) -> ImageEdit:
    """The fleet file with DOMAIN's image set to IMAGE, validated; nothing is written yet."""
    try:
        check_image(image)
    except ValueError as exc:
        raise FleetError(f"image: {exc}") from None
    text = path.read_text(encoding="utf-8")
    doc = _yaml().load(text)
    sites = doc.get("sites") if isinstance(doc, CommentedMap) else None
    site = next((s for s in sites or [] if isinstance(s, CommentedMap) and s.get("domain") == domain), None)
    if site is None:
        raise FleetError(f"{path}: no site with domain {domain!r}")
    old_image = str(site.get("image"))
    site["image"] = image
    out = io.StringIO()
    _yaml().dump(doc, out)
    new_text = out.getvalue()
    parse_fleet(new_text, str(path), os.environ)  # the edited file must still be a valid fleet
    return ImageEdit(path, text, new_text, old_image)


def write_atomically(path: Path, text: str) -> None:
    """Replace the fleet file whole: a temp file of an unpredictable name created with O_EXCL in the
    same directory, with the file's mode and owner, fsync, rename. A symlinked fleet file is refused
    (the write would land wherever the link points)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: not a regular file (a symlink?); deploy rewrites only a plain fleet file")
    owner = (st.st_uid, st.st_gid) if os.geteuid() == 0 else None
    atomic_write(str(path.parent), path.name, text.encode("utf-8"), stat.S_IMODE(st.st_mode), owner)


class DeployFailed(RuntimeFailure):
    """The new image did not become healthy; the previous one was put back."""


def deploy(path: Path, domain: str, image: str, converge: Callable[[], None]) -> ImageEdit:
    """Write the new image, converge; on failure write the old one back, converge, raise DeployFailed."""
    edit = edit_image(path, domain, image)
    if edit.old_image == image:
        converge()
        return edit
    write_atomically(path, edit.new_text)
    try:
        converge()
    except CargoholdError as exc:
        # The first line and what it lists ("apply finished but the fleet still differs:" + items).
        reason = "; ".join(line.strip() for line in str(exc).splitlines()[:6] if line.strip())
        write_atomically(path, edit.old_text)
        try:
            converge()
        except CargoholdError as again:
            raise DeployFailed(f"{domain}: {image} failed ({reason}); rollback to {edit.old_image} failed too: "
                               f"{str(again).splitlines()[0]}") from None
        raise DeployFailed(f"{domain}: {image} failed ({reason}); rolled back to {edit.old_image}") from None
    return edit
