"""`cargohold build`: a site's image from a directory's Dockerfile, built by a node's engine (the
context streamed by the SDK, no docker CLI), tagged with the fleet file's registry and name; pushed
when asked (or when the image names a registry and the deploy needs it)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from cargohold.errors import RuntimeFailure, UsageError
from cargohold.fleet.fields import check_image

if TYPE_CHECKING:
    from cargohold.backends import Backends
    from cargohold.fleet.schema import Fleet

TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def split_ref(image: str) -> tuple[str, str | None]:
    """registry:5000/site:1 -> ("registry:5000/site", "1"); a digest reference cannot be rebuilt."""
    if "@" in image:
        raise UsageError(f"{image} is pinned by digest; a build needs a name:tag image in the fleet file")
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, None


def names_registry(image: str) -> bool:
    first = image.split("/", 1)[0]
    return "/" in image and ("." in first or ":" in first or first == "localhost")


def git_tag(directory: str) -> str:
    """The commit of DIR (12 hex digits), with -dirty when it has uncommitted changes."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise UsageError(f"{directory} is not a git checkout ({result.stderr.strip()[:200]}); give --tag")
        return result.stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD")
    return commit + ("-dirty" if git("status", "--porcelain") else "")


def build_site(fleet: Fleet, backends: Backends, domain: str, directory: str, tag: str | None, push: bool,
               node: str | None, progress: Callable[[str], None]) -> str:
    """Build (and push) the site's image; the new reference."""
    site = next((s for s in fleet.sites if s.domain == domain), None)
    if site is None:
        raise UsageError(f"{domain} is not a site of the fleet file")
    names = [n.name for n in fleet.nodes]
    if node is not None and node not in names:
        raise UsageError(f"--node {node}: not a node of the fleet file")
    tag = tag if tag is not None else git_tag(directory)
    if not TAG_RE.fullmatch(tag):
        raise UsageError(f"--tag {tag!r}: letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')")
    repository, _ = split_ref(site.image)
    ref = f"{repository}:{tag}"
    try:
        check_image(ref)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        st = os.stat(os.path.join(directory, "Dockerfile"))
    except OSError as exc:
        raise RuntimeFailure(f"{directory}: no Dockerfile ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise RuntimeFailure(f"{directory}/Dockerfile is not a regular file")
    if push and not names_registry(ref):
        raise UsageError(f"--push: {ref} names no registry (registry:port/name in the fleet file's image)")
    # Where the image is needed: with a registry the nodes pull it, so one build (and a push) does;
    # without one, every engine that runs the site builds it (the same context, the same Dockerfile).
    site_nodes = list(site.nodes or names) if fleet.runtime == "docker" else names
    engines = {n.name: n.engine for n in fleet.nodes}
    if node is not None:
        targets = [node]
    elif push:
        targets = site_nodes[:1]
    else:
        targets = list({engines[n]: n for n in reversed(site_nodes)}.values())[::-1]
    for target in targets:
        progress(f"building {ref} on {target}")
        backends.runtime.build(target, directory, ref, progress)
    if push:
        progress(f"pushing {ref} from {targets[0]}")
        backends.runtime.push(targets[0], repository, tag, progress)
    return ref
