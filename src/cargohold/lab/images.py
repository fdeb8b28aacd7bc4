"""Images without a registry: a Debian rootfs by debootstrap, imported, and the demo site on top.

The rootfs tarball is cached outside the lab (it survives `lab down`): building it takes ~35 s,
importing it ~2 s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker
import docker.errors

from cargohold.errors import RuntimeFailure

BASE_IMAGE = "cargohold/debian:bookworm"
DEMO_REPO = "cargohold-demo"
DEMO_APP_DIR = Path(__file__).with_name("demo_app")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# Left out of the image: nothing in it needs docs, manuals, locales or apt's lists.
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists",
        "var/cache/apt", "var/cache/debconf/templates.dat-old"]


def cache_dir() -> Path:
    base = os.environ.get("CARGOHOLD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cargohold"
    )
    return Path(base)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 sources first, then sources.list)."""
    candidates = sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for block in re.split(r"\n\s*\n", text):
            if re.search(r"^Suites:.*\bbookworm\b(?!-)", block, re.M):
                uri = re.search(r"^URIs:\s*(\S+)", block, re.M)
                if uri and "security" not in uri.group(1):
                    return uri.group(1)
        for line in text.splitlines():
            match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
            if match:
                return match.group(1)
    return FALLBACK_MIRROR


def rootfs_tarball() -> Path:
    """Build (once) a minimal Debian bookworm rootfs with python3 and return the cached tarball."""
    tarball = cache_dir() / "debian-bookworm-python3.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise RuntimeFailure("debootstrap is not installed (run scripts/setup)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs), apt_mirror()]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise RuntimeFailure(f"debootstrap failed ({result.returncode}): {tail}")
        for rel in TRIM:
            shutil.rmtree(rootfs / rel, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True,
                       timeout=600)
        partial.replace(tarball)
    return tarball


def ensure_base_image(client: docker.DockerClient) -> str:
    try:
        client.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    tarball = rootfs_tarball()
    repo, tag = BASE_IMAGE.split(":")
    try:
        client.api.import_image_from_file(str(tarball), repository=repo, tag=tag)
        client.images.get(BASE_IMAGE)
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"importing {tarball} as {BASE_IMAGE} failed: {exc}") from None
    return BASE_IMAGE


def ensure_demo_image(client: docker.DockerClient, version: str = "1") -> str:
    """cargohold-demo:<version>: the Drupal-like demo site (uploads inside the app tree)."""
    tag = f"{DEMO_REPO}:{version}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    ensure_base_image(client)
    try:
        client.images.build(path=str(DEMO_APP_DIR), tag=tag, buildargs={"VERSION": version}, rm=True,
                            forcerm=True, pull=False)
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"building {tag} failed: {exc}") from None
    return tag
