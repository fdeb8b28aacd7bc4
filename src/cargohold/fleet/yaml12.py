"""Read a fleet file fast: libyaml (PyYAML's C parser) builds the node tree; this module turns it into
plain dicts and lists with YAML 1.2's core schema (`yes`, `on`, `2026-01-01` are strings; `0o755` is
an int), refuses duplicate keys, and records the line of every key and list item for error messages.

PyYAML alone resolves scalars by YAML 1.1 and silently keeps the last of two equal keys; both would
change what a fleet file means, so only its composer (the parse into nodes) is used.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from cargohold.errors import FleetError

Loc = tuple[str | int, ...]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL = re.compile(r"~|null|Null|NULL|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_MERGE_TAG = "tag:yaml.org,2002:merge"


def load(text: str, name: str) -> tuple[Any, dict[Loc, int]]:
    """(the document as plain data, the 1-based line of each key and item by its location)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise FleetError(f"{where}: YAML error: {exc.problem or exc.context or 'invalid YAML'}") from None
    except yaml.YAMLError as exc:
        raise FleetError(f"{name}: YAML error: {exc}") from None
    lines: dict[Loc, int] = {}
    if node is None:
        return None, lines
    return _convert(node, (), name, lines), lines


def _scalar(node: yaml.ScalarNode) -> Any:
    value: str = node.value
    if node.style:  # quoted or a block scalar: text (plain is None in PyYAML, "" in libyaml's composer)
        return value
    if _NULL.fullmatch(value):
        return None
    if _TRUE.fullmatch(value):
        return True
    if _FALSE.fullmatch(value):
        return False
    if _INT.fullmatch(value):
        return int(value)
    if _OCT.fullmatch(value):
        return int(value[2:], 8)
    if _HEX.fullmatch(value):
        return int(value[2:], 16)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _INF.fullmatch(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.fullmatch(value):
        return math.nan
    return value


def _convert(node: yaml.Node, loc: Loc, name: str, lines: dict[Loc, int]) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        out_list = []
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            out_list.append(_convert(item, (*loc, i), name, lines))
        return out_list
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    data = _convert(source, loc, name, {})
                    if not isinstance(data, dict):
                        raise FleetError(f"{name}:{key_node.start_mark.line + 1}: YAML error: '<<' needs a mapping")
                    merged = {**data, **merged}
                continue
            key = _convert(key_node, loc, name, {})
            if isinstance(key, (dict, list)):
                raise FleetError(f"{name}:{key_node.start_mark.line + 1}: YAML error: a key must be a scalar")
            if key in out:
                raise FleetError(f"{name}:{key_node.start_mark.line + 1}: YAML error: duplicate key: {key!r} "
                                 f"(first on line {lines.get((*loc, key), '?')})")
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*loc, key), name, lines)
        return {**merged, **out}
    raise FleetError(f"{name}: YAML error: unexpected node {type(node).__name__}")
