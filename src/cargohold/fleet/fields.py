"""The fleet file's field types: validated strings, sizes and the strict base model.

Every check names what is wrong and how to write it instead; schema.py builds the file's models
from these.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# RFC 1123 host name, lower-case only: labels of 1-63 letters, digits and inner hyphens.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
AREA_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Docker image reference: [registry[:port]/]name[:tag][@digest], lower-case path components.
IMAGE_RE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
ENGINE_RE = re.compile(r"^(unix:///\S+|tcp://[A-Za-z0-9.\[\]:-]+:[0-9]+|ssh://\S+)$")
RESERVED_ENV = frozenset({"PORT", "CARGOHOLD_SITE", "CARGOHOLD_INSTANCE"})
LOGS_AREA = "logs"


def check_domain(value: str) -> str:
    if len(value) > 253:
        raise ValueError(f"domain is {len(value)} characters long, at most 253 are allowed")
    if not DOMAIN_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid domain: use lower-case letters, digits, '-' and '.' "
            "(RFC 1123), with no leading or trailing dot or hyphen"
        )
    return value


def check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid name: 1-32 of a-z, 0-9 and inner '-'")
    return value


def check_area(value: str) -> str:
    if not AREA_RE.match(value):
        raise ValueError(f"{value!r} is not a valid area name: a-z first, then a-z, 0-9, '_' or '-'")
    return value


def check_absolute_path(value: str) -> str:
    if "\0" in value:
        raise ValueError("path contains a NUL byte")
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if any(part == ".." for part in value.split("/")):
        raise ValueError(f"{value!r} contains '..'")
    if posixpath.normpath(value) != value:
        raise ValueError(f"{value!r} is not a normalised path (write {posixpath.normpath(value)!r})")
    if ":" in value or "," in value:
        raise ValueError(f"{value!r} contains ':' or ',', which Docker mounts cannot carry")
    return value


def check_container_path(value: str) -> str:
    check_absolute_path(value)
    if value == "/":
        raise ValueError("'/' cannot be a mount point: name a directory inside the container")
    return value


def check_image(value: str) -> str:
    if not IMAGE_RE.match(value):
        raise ValueError(f"{value!r} is not a valid image reference (e.g. registry:5000/site:1.2)")
    return value


def image_registry(image: str) -> str | None:
    """The registry host an image reference names (a first component with '.' or ':', or localhost)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else None


def check_engine(value: str) -> str:
    if not ENGINE_RE.match(value):
        raise ValueError(f"{value!r} is not a Docker endpoint: use unix:///path, tcp://host:port or ssh://")
    return value


def check_env_name(value: str) -> str:
    if not ENV_RE.match(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    if value in RESERVED_ENV:
        raise ValueError(f"{value} is set by cargohold for every instance and cannot be overridden")
    return value


Domain = Annotated[str, AfterValidator(check_domain)]
Name = Annotated[str, AfterValidator(check_name)]
AreaName = Annotated[str, AfterValidator(check_area)]
AbsolutePath = Annotated[str, AfterValidator(check_absolute_path)]
ContainerPath = Annotated[str, AfterValidator(check_container_path)]
ImageRef = Annotated[str, AfterValidator(check_image)]
EngineURL = Annotated[str, AfterValidator(check_engine)]
EnvName = Annotated[str, AfterValidator(check_env_name)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


HOST_RE = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|" + _LABEL + r"(?:\.(?:" + _LABEL + r"))*)$")
VOLUME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OPTION_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$")


def check_host(value: str) -> str:
    if not HOST_RE.match(value):
        raise ValueError(f"{value!r} is not an IPv4 address or a host name")
    return value


def check_volume(value: str) -> str:
    if not VOLUME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid volume name (letters, digits, '_' and '-')")
    return value


Host = Annotated[str, AfterValidator(check_host)]
VolumeName = Annotated[str, AfterValidator(check_volume)]


BIND_RE = re.compile(r"^(?P<addr>[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\*):(?P<port>[0-9]{1,5})$")


def check_bind(value: str) -> str:
    match = BIND_RE.match(value)
    if not match or not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r} is not address:port (like 127.0.0.1:18000 or *:80)")
    return value


Bind = Annotated[str, AfterValidator(check_bind)]


LABEL_KEY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not LABEL_KEY_RE.match(key) or key.startswith("cargohold."):
            raise ValueError(f"label {key!r}: use a-z, 0-9, '.', '_' and '-' (the 'cargohold.' prefix is reserved)")
        if not re.match(r"^[A-Za-z0-9._-]{1,63}$", val):
            raise ValueError(f"label {key}: value {val!r} must be 1-63 of letters, digits, '.', '_' and '-'")
    return value


Labels = Annotated[dict[str, str], AfterValidator(check_labels)]


_SIZE_RE = re.compile(r"^([0-9]+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def parse_size(text: str) -> int:
    match = _SIZE_RE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a size like 500MiB or 10GB")
    return int(match.group(1)) * _UNITS[match.group(2)]


def unique(values: list[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{field}: {what} {value!r} appears twice")
        seen.add(value)
