"""Read a fleet file: YAML with line numbers, ${VAR} expansion, schema errors that name the field."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cargohold.errors import FleetError
from cargohold.fleet import yaml12
from cargohold.fleet.envfile import read_env_file
from cargohold.fleet.fields import control_character
from cargohold.fleet.schema import Fleet

DEFAULT_FLEET_FILE = "cargohold.yml"
# a doubled dollar sign, ${VAR}, ${VAR:-default}
_VAR_RE = re.compile(r"[$](?:[$]|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")

Loc = tuple[str | int, ...]
Lines = dict[Loc, int]  # the 1-based line of each key and list item


def load_fleet(path: str | Path, environ: Mapping[str, str] | None = None) -> Fleet:
    """Load and validate a fleet file; raise FleetError with file:line and the field on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FleetError(f"{path}: no such fleet file (give one with -f)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError(f"{path}: cannot read: {exc}") from None
    return parse_fleet(text, str(path), os.environ if environ is None else environ)


def parse_fleet(text: str, name: str, environ: Mapping[str, str]) -> Fleet:
    tree, lines = yaml12.load(text, name)
    if not isinstance(tree, dict):
        raise FleetError(f"{name}: the fleet file must be a mapping (fleet:, storage:, nodes:, sites:)")
    data = _expand(tree, (), name, lines, environ)
    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as exc:
        raise FleetError("\n".join(_describe_all(exc, name, lines))) from None
    return _with_env_files(fleet, name, lines)


def _with_env_files(fleet: Fleet, name: str, tree: Lines) -> Fleet:
    """Each site's env_file read into its env (the fleet file's own env wins on a name in both)."""
    sites = []
    for i, site in enumerate(fleet.sites):
        if site.env_file is None:
            sites.append(site)
            continue
        loc: Loc = ("sites", i, "env_file")
        try:
            values = read_env_file(site.env_file)
        except ValueError as exc:
            raise FleetError(f"{_where(name, tree, loc)}: {_dotted(loc)}: {exc}") from None
        sites.append(site.model_copy(update={"env": {**values, **site.env}}))
    return fleet.model_copy(update={"sites": sites}) if sites != list(fleet.sites) else fleet


def _expand(node: Any, loc: Loc, name: str, tree: Lines, environ: Mapping[str, str]) -> Any:
    """The document with ${VAR} and ${VAR:-default} expanded in strings; no control character anywhere."""
    if isinstance(node, dict):
        for key in node:
            if isinstance(key, str) and control_character(key):
                raise FleetError(f"{_where(name, tree, loc)}: {_dotted((*loc, key))}: the key contains a control "
                                 f"character ({control_character(key)})")
        return {key: _expand(value, (*loc, key), name, tree, environ) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand(value, (*loc, i), name, tree, environ) for i, value in enumerate(node)]
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            var, default = match.group(1), match.group(2)
            value = environ.get(var)
            if value:
                return value
            if default is not None:
                return default
            raise FleetError(f"{_where(name, tree, loc)}: {_dotted(loc)}: environment variable {var} is not set")

        value = _VAR_RE.sub(substitute, str(node))
        bad = control_character(value)
        if bad:  # a newline or NUL could end a line of a rendered configuration and start one of its own
            raise FleetError(f"{_where(name, tree, loc)}: {_dotted(loc)}: contains a control character ({bad}); "
                             "no value may")
        return value
    return node


def _describe_all(exc: ValidationError, name: str, tree: Lines) -> list[str]:
    """One line per field; the alternatives of a union (str | int) are folded into one line."""
    by_loc: dict[Loc, list[str]] = {}
    for err in exc.errors():
        loc = _strip_union_tags(tuple(err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            loc = (*loc, str(ctx.get("discriminator", "")).strip("'"))
            message = f"unknown {loc[-1]} {ctx.get('tag')!r}: use one of {ctx.get('expected_tags')}"
        elif err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        messages = by_loc.setdefault(loc, [])
        if message not in messages:
            messages.append(message)
    lines = []
    for loc, messages in by_loc.items():
        if len(messages) > 1 and all(m.startswith("Input should be a valid ") for m in messages):
            kinds = [m.removeprefix("Input should be a valid ") for m in messages]
            messages = ["Input should be a valid " + " or ".join(kinds)]
        lines.append(f"{_where(name, tree, loc)}: {_dotted(loc) or '(top level)'}: {'; '.join(messages)}")
    return lines


def _strip_union_tags(loc: Loc) -> Loc:
    """pydantic adds the union member's name ('str', 'Health', a storage backend) to the location."""
    tags = {"str", "int", "float", "Health"}
    backends = {"local", "glusterfs"}
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (part in tags or "[" in part):
            continue
        if isinstance(part, str) and part in backends and out == ["storage"]:
            continue
        out.append(part)
    return tuple(out)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(name: str, lines: Lines, loc: Loc) -> str:
    """file:line of the deepest part of loc that is in the file."""
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return f"{name}:{line}"
    return name
