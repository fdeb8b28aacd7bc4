"""What a container's or service's labels say about its configuration, and what changed. Pure."""

from __future__ import annotations

import hashlib
import json


def config_hash(config: dict[str, object]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def label_config(config: dict[str, object]) -> dict[str, object]:
    """What a container's or service's `cargohold.config` label keeps: the configuration with the
    env values left out (names only: env carries database passwords, and labels are readable by
    anything that may list containers). The config hash label is computed from the whole config."""
    env = config.get("env")
    return {**config, "env": sorted(env)} if isinstance(env, dict) else dict(config)


def config_changes(want: dict[str, object], have: dict[str, object]) -> list[str]:
    """What differs between the configuration asked for (`want`, with env values) and the label of
    what runs (`have`: env names only). Called when the hashes differ."""
    changes: list[str] = []
    for key in sorted(set(want) | set(have)):
        old, new = have.get(key), want.get(key)
        if key == "env" and isinstance(new, dict) and isinstance(old, (dict, list)):
            # Name the variables, never their values.
            if isinstance(old, dict):  # a label written before labels kept names only
                names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            else:
                names = sorted(set(old) ^ set(new))
            if names:
                changes.append(f"env changed: {', '.join(names)}")
            continue
        if old == new:
            continue
        elif key in ("image", "port", "user", "instances"):
            changes.append(f"{key} changed: {old} -> {new}")
        else:
            changes.append(f"{key} changed")
    env = want.get("env")
    if not changes and isinstance(env, dict) and env:
        # Same names, same everything else, another hash: a value changed (which one, no label says).
        changes.append(f"env changed: {', '.join(sorted(env))} (a value of one or more of these)")
    return changes
