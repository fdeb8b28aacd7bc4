"""The fleet file's field types: validated strings, sizes and the strict base model.

Every check names what is wrong and how to write it instead; schema.py builds the file's models
from these.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# RFC 1123 host name, lower-case only: labels of 1-63 letters, digits and inner hyphens.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*")
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
AREA_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Docker image reference: [registry[:port]/]name[:tag][@digest], lower-case path components.
IMAGE_RE = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
ENGINE_RE = re.compile(r"(unix:///\S+|tcp://[A-Za-z0-9.\[\]:-]+:[0-9]+|ssh://\S+)")
RESERVED_ENV = frozenset({"PORT", "CARGOHOLD_SITE", "CARGOHOLD_INSTANCE"})
LOGS_AREA = "logs"


def check_domain(value: str) -> str:
    if len(value) > 253:
        raise ValueError(f"domain is {len(value)} characters long, at most 253 are allowed")
    if not DOMAIN_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid domain: use lower-case letters, digits, '-' and '.' "
            "(RFC 1123), with no leading or trailing dot or hyphen"
        )
    return value


def check_name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name: 1-32 of a-z, 0-9 and inner '-'")
    return value


def check_area(value: str) -> str:
    if not AREA_RE.fullmatch(value):
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
    if not IMAGE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid image reference (e.g. registry:5000/site:1.2)")
    return value


def image_registry(image: str) -> str | None:
    """The registry host an image reference names (a first component with '.' or ':', or localhost)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else None


def check_engine(value: str) -> str:
    if not ENGINE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Docker endpoint: use unix:///path, tcp://host:port or ssh://")
    return value


def check_env_name(value: str) -> str:
    if not ENV_RE.fullmatch(value):
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


def control_character(text: str) -> str | None:
    """The first control or line-separator character in text (newline, CR, tab, NUL, DEL, C1, U+2028...)."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def _no_control_characters(data: Any, where: str) -> None:
    if isinstance(data, str):
        bad = control_character(data)
        if bad:
            raise ValueError(f"{where}: contains a control character ({bad}); no value may")
    elif isinstance(data, dict):
        for key, value in data.items():
            _no_control_characters(key, f"{where}.{key}" if where else str(key))
            _no_control_characters(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _no_control_characters(value, f"{where}[{i}]")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control(cls, data: Any) -> Any:
        # Every string value anywhere in the file: a newline or NUL can end a line of a rendered
        # configuration (HAProxy, compose, a Makefile) and start one of its own.
        if isinstance(data, dict):
            for key, value in data.items():
                _no_control_characters(key, str(key))
                _no_control_characters(value, str(key))
        return data


VOLUME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
OPTION_RE = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)+")


def check_host(value: str) -> str:
    """An IP address (the ipaddress module decides) or an RFC 1123 host name, nothing else."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value) or len(value) > 253 or not re.fullmatch(rf"{_LABEL}(\.{_LABEL})*", value):
        raise ValueError(f"{value!r} is not an IP address or a host name")
    return value


SSH_RE = re.compile(r"(?:ssh://)?(?P<user>[a-z_][a-z0-9_.-]{0,31})@(?P<host>[^:@/\[\]]+|\[[0-9a-fA-F:.]+\])"
                    r"(?::(?P<port>[0-9]{1,5}))?")


def check_ssh(value: str) -> str:
    match = SSH_RE.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not user@host[:port]")
    check_host(match.group("host").strip("[]"))
    if match.group("port") is not None and not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r}: port {match.group('port')} is not 1-65535")
    return value


# Storage roots that are the system's own trees: purging a site named like one of their entries
# (lib, bin, ...) must never be able to reach them.
SYSTEM_ROOTS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
                          "/opt", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
                          "/usr/lib", "/usr/local", "/usr/bin", "/usr/sbin", "/usr/share", "/var/lib", "/var/log",
                          "/var/run", "/var/tmp", "/var/cache", "/var/spool"})


def check_storage_root(value: str) -> str:
    check_absolute_path(value)
    if value in SYSTEM_ROOTS:
        raise ValueError(f"{value!r} is a system directory, not a storage root: use a directory of its own "
                         "(like /storage)")
    return value


def check_volume(value: str) -> str:
    if not VOLUME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid volume name (letters, digits, '_' and '-')")
    return value


Host = Annotated[str, AfterValidator(check_host)]
SSHTarget = Annotated[str, AfterValidator(check_ssh)]
StorageRoot = Annotated[str, AfterValidator(check_storage_root)]
VolumeName = Annotated[str, AfterValidator(check_volume)]


BIND_RE = re.compile(r"(?P<addr>[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\*):(?P<port>[0-9]{1,5})")


def check_bind(value: str) -> str:
    match = BIND_RE.fullmatch(value)
    if not match or not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r} is not address:port (like 127.0.0.1:18000 or *:80)")
    return value


Bind = Annotated[str, AfterValidator(check_bind)]


LABEL_KEY_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")


def check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not LABEL_KEY_RE.fullmatch(key) or key.startswith("cargohold."):
            raise ValueError(f"label {key!r}: use a-z, 0-9, '.', '_' and '-' (the 'cargohold.' prefix is reserved)")
        if not re.fullmatch(r"^[A-Za-z0-9._-]{1,63}$", val):
            raise ValueError(f"label {key}: value {val!r} must be 1-63 of letters, digits, '.', '_' and '-'")
    return value


Labels = Annotated[dict[str, str], AfterValidator(check_labels)]


_SIZE_RE = re.compile(r"([0-9]+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def parse_size(text: str) -> int:
    match = _SIZE_RE.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a size like 500MiB or 10GB")
    return int(match.group(1)) * _UNITS[match.group(2)]


def unique(values: list[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{field}: {what} {value!r} appears twice")
        seen.add(value)
