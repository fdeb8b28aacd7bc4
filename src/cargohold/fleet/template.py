"""`cargohold init`: a first fleet file, commented, that validates as written.

Every value a user gives is checked by the same rules as the fleet file's, then written as a JSON
string (which YAML reads as a double-quoted scalar): no value can end a line or open a comment.
"""

from __future__ import annotations

import json

from cargohold.fleet.fields import (
    ENGINE_RE,
    check_absolute_path,
    check_domain,
    check_image,
    check_name,
    control_character,
)


def _q(value: str) -> str:
    return json.dumps(value)


def _pad(line: str) -> str:
    return line + " " * max(1, 38 - len(line))


def parse_node(text: str) -> tuple[str, str]:
    """NAME=ENGINE, e.g. web1=unix:///var/run/docker.sock or web2=ssh://deploy@192.0.2.12."""
    name, sep, engine = text.partition("=")
    if not sep:
        raise ValueError(f"--node {text!r}: give NAME=ENGINE, e.g. web1=unix:///var/run/docker.sock")
    check_name(name)
    if control_character(engine) or not ENGINE_RE.fullmatch(engine):
        raise ValueError(f"--node {name}: {engine!r} is not an engine URL "
                         "(unix:///path, tcp://host:port, ssh://user@host)")
    return name, engine


def fleet_template(fleet: str, domain: str, image: str, nodes: list[tuple[str, str]], storage_root: str,
                   plain_dir: bool = False, port: int = 8080) -> str:
    check_name(fleet)
    check_domain(domain)
    check_image(image)
    check_absolute_path(storage_root)
    if not nodes:
        raise ValueError("give at least one --node NAME=ENGINE")
    if not 1024 <= port <= 65535:
        raise ValueError(f"--port {port}: between 1024 and 65535")
    node_lines = []
    for name, engine in nodes:
        node_lines += [
            f"  - name: {_q(name)}",
            f"    engine: {_q(engine)}",
            "    # address: 192.0.2.11             # where this node's instances are reachable (default 127.0.0.1)",
            "    # tls: {ca: /etc/cargohold/ca.pem, cert: /etc/cargohold/cert.pem, key: /etc/cargohold/key.pem}",
            "    #                                  # for a tcp:// engine (plain TCP is refused)",
            "    # ssh: deploy@192.0.2.11           # host work on a remote node (mounts, storage check)",
        ]
    return "\n".join([
        "# cargohold fleet file, written by `cargohold init`. Every key: docs/fleet-file.md",
        "# `cargohold plan` shows what `cargohold apply` would change; a second apply changes nothing.",
        f"fleet: {_q(fleet)}",
        "# runtime: swarm                      # one Swarm service per site (docs/swarm.md)",
        "",
        "storage:",
        "  backend: local                      # or glusterfs: a replicated volume cargohold builds (docs/storage.md)",
        _pad(f"  root: {_q(storage_root)}") + "# <root>/<area>/<domain> per site",
        _pad(f"  mount: {'false' if plain_dir else 'true'}")
        + ("# a plain directory (one machine)" if plain_dir else "# refuse the root while nothing is mounted there"),
        "  # volume: web                       # glusterfs: the volume, its servers and bricks:",
        "  # servers:",
        "  #   - {name: s1, address: 192.0.2.21, brick: /data/bricks/web}",
        "  #   - {name: s2, address: 192.0.2.22, brick: /data/bricks/web}",
        "  #   - {name: s3, address: 192.0.2.23, brick: /data/bricks/web}   # the arbiter",
        "",
        "nodes:",
        *node_lines,
        "",
        "# frontdoor:                          # HAProxy on every node, routing by Host (docs/frontdoor.md)",
        "#   http: 0.0.0.0:80",
        "#   https: 0.0.0.0:443",
        "#   certificates: [/etc/cargohold/certs/example.com.pem]",
        "",
        "# backup:                             # restic, per site and area (docs/backup.md)",
        "#   repository: /srv/backup/restic    # or sftp:user@host:/path, rest:https://host:8000/repo",
        "#   password_file: /etc/cargohold/restic.pass   # mode 0600",
        "#   every: 24h",
        "#   keep: {daily: 7, weekly: 4, monthly: 6}",
        "",
        "sites:",
        f"  - domain: {_q(domain)}",
        f"    image: {_q(image)}",
        f"    port: {port}                          # instance N listens on port + N - 1 ($PORT)",
        "    instances: 2                       # on different nodes when there are two or more",
        "    writable:",
        "      /var/www/sites/default/files: files   # -> <root>/files/<domain>",
        "    logs: /var/log/app                 # -> <root>/logs/<domain>",
        "    # app_root: /var/www               # what `cargohold dev` mounts from ./application",
        "    # uid: 33                          # owner of the site's directories; the container runs as uid:gid",
        "    # gid: 33",
        "    # env: {APP_ENV: production}",
        "    # env_file: /etc/cargohold/www.env # NAME=VALUE lines, mode 0600",
        "    # health: /healthz                 # an HTTP path, or a command",
        "    # aliases: [example.com]",
        "    # redirect_aliases: true",
        "    # quota: 10GiB                     # glusterfs only",
        "",
    ])

