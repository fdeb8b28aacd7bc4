"""`cargohold deploy DOMAIN IMAGE` (what a CI job calls after it pushed an image) and `cargohold
scale DOMAIN N`: one value of a site set in the fleet file (its comments and layout kept), then a
converge that must succeed; otherwise the previous value goes back in the file, the fleet converges
again (a rollback), and the command fails with a one-line reason.
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
from cargohold.model import Observed

MIN_INSTANCES = 2  # every site on at least two instances (two machines, where the fleet has them)


@dataclass(frozen=True)
class SiteEdit:
    path: Path
    old_text: str
    new_text: str
    old_value: str
    new_value: str


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def edit_image(path: Path, domain: str, image: str) -> SiteEdit:
    """The fleet file with DOMAIN's image set to IMAGE, validated; nothing is written yet."""
    try:
        check_image(image)
    except ValueError as exc:
        raise FleetError(f"image: {exc}") from None
    return edit_site(path, domain, "image", image)


def edit_instances(path: Path, domain: str, count: int) -> SiteEdit:
    """The fleet file with DOMAIN's instance count set to COUNT, validated (on swarm the file's own
    rule: at most one instance per eligible node); nothing is written yet."""
    if type(count) is not int or count < MIN_INSTANCES:
        raise FleetError(f"instances: {count!r}: at least {MIN_INSTANCES} (every site runs on two instances at "
                         "least, on different machines where the fleet has them)")
    return edit_site(path, domain, "instances", count, default=2)


def edit_site(path: Path, domain: str, key: str, value: str | int, default: object = "") -> SiteEdit:
    """The fleet file with one key of DOMAIN's entry set (`default`: its value when the file leaves
    it out), validated; nothing is written yet."""
    text = path.read_text(encoding="utf-8")
    doc = _yaml().load(text)
    sites = doc.get("sites") if isinstance(doc, CommentedMap) else None
    site = next((s for s in sites or [] if isinstance(s, CommentedMap) and s.get("domain") == domain), None)
    if site is None:
        raise FleetError(f"{path}: no site with domain {domain!r}")
    old_value = str(site.get(key, default))
    site[key] = value
    out = io.StringIO()
    _yaml().dump(doc, out)
    new_text = out.getvalue()
    parse_fleet(new_text, str(path), os.environ)  # the edited file must still be a valid fleet
    return SiteEdit(path, text, new_text, old_value, str(value))


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


def deploy(path: Path, domain: str, image: str, converge: Callable[[], None]) -> SiteEdit:
    """Write the new image, converge; on failure write the old one back, converge, raise DeployFailed."""
    return roll_out(edit_image(path, domain, image), domain, image, converge)


def scale(path: Path, domain: str, count: int, converge: Callable[[], None]) -> SiteEdit:
    """Write the new instance count, converge; on failure the old count goes back (DeployFailed)."""
    return roll_out(edit_instances(path, domain, count), domain, f"{count} instances", converge)


def roll_out(edit: SiteEdit, domain: str, what: str, converge: Callable[[], None]) -> SiteEdit:
    path = edit.path
    if edit.old_value == edit.new_value:
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
            raise DeployFailed(f"{domain}: {what} failed ({reason}); rollback to {edit.old_value} failed too: "
                               f"{str(again).splitlines()[0]}") from None
        raise DeployFailed(f"{domain}: {what} failed ({reason}); rolled back to {edit.old_value}") from None
    return edit


def serving(observed: Observed, domain: str) -> int:
    """How many of the site's instances run healthy: Swarm tasks of the current version that run
    (Swarm reports running only after the health check passed), or containers running healthy (or
    running, for a site without a health check)."""
    if observed.swarm is not None:
        service = observed.swarm.service(domain)
        return 0 if service is None else len([t for t in service.running() if t.current])
    return len([i for i in observed.instances if i.site == domain and i.state == "running"
                and i.health in ("healthy", "none")])
