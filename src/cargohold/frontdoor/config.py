"""Render an HAProxy configuration from what should be routed where. Pure: no I/O."""

from __future__ import annotations

import ipaddress
import re

from cargohold.errors import RuntimeFailure
from cargohold.model import Backend, FrontDoorConfig, SiteRoute

__all__ = ["Backend", "FrontDoorConfig", "SiteRoute", "UnsafeValue", "check_config", "render", "rendered_hash"]


# Bumped whenever render() writes something else for the same FrontDoorConfig: a front door running
# an older rendering is then synced even though its configuration's hash is the same.
RENDERING = "1"
HEADER = "# cargohold-config "


def rendered_hash(text: str) -> str:
    """The hash of the FrontDoorConfig a running configuration was rendered from ("" if none, or
    from another rendering)."""
    for line in text.splitlines()[:3]:
        if line.startswith(HEADER):
            rendering, _, digest = line[len(HEADER):].partition(":")
            return digest if rendering == RENDERING else ""
    return ""


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


class UnsafeValue(RuntimeFailure):
    """A value the renderer cannot write into haproxy.cfg safely (it would change the file's meaning)."""


_DOMAIN = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")
_WORD = re.compile(r"[A-Za-z0-9_./:@%+=,~-]+")  # paths, users: one word, no quote, no space
_BIND = re.compile(r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\*):[0-9]{1,5}")  # 10.0.0.1:80, or *:80 (every address)
_HEALTH = re.compile(r"/[A-Za-z0-9._~!\x24&()*+,;=:@%/?-]*")  # \x24: the dollar sign
_SERVER = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # i1, i2 (runtime docker) or node names (swarm)


def _require(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise UnsafeValue(f"front door: refusing to write {what} {value!r} into haproxy.cfg")


def check_config(cfg: FrontDoorConfig) -> None:
    """Defence in depth: the fleet file's validation comes first; this refuses anything that would
    still break out of its line or word (newlines, spaces, quotes, '#')."""
    for what, value in (("log socket", cfg.log_socket), ("admin socket", cfg.admin_socket), ("user", cfg.user),
                        ("chroot", cfg.chroot), *(("certificate", c) for c in cfg.certificates)):
        _require(value is None or bool(_WORD.fullmatch(value)), what, value)
    for what, value in (("bind", cfg.bind), ("https bind", cfg.https_bind)):
        _require(value is None or bool(_BIND.fullmatch(value)), what, value)
    for what, number in (("max upload", cfg.max_upload), ("fall", cfg.fall), ("rise", cfg.rise)):
        _require(isinstance(number, int) and not isinstance(number, bool) and number > 0, what, number)
    for what, seconds in (("timeout", cfg.connect_timeout), ("timeout", cfg.client_timeout),
                          ("timeout", cfg.server_timeout), ("check interval", cfg.check_interval)):
        _require(isinstance(seconds, (int, float)) and 0 < seconds <= 86400, what, seconds)
    for site in cfg.sites:
        for name in (site.domain, *site.aliases):
            _require(len(name) <= 253 and bool(_DOMAIN.fullmatch(name)), "host name", name)
        _require(site.health_path is None or bool(_HEALTH.fullmatch(site.health_path)), "health path",
                 site.health_path)
        for b in site.backends:
            _require(bool(_SERVER.fullmatch(b.name)), "server name", b.name)
            try:
                ipaddress.ip_address(b.address)
            except ValueError:
                _require(len(b.address) <= 253 and bool(_DOMAIN.fullmatch(b.address)), "server address", b.address)
            _require(isinstance(b.port, int) and not isinstance(b.port, bool) and 1 <= b.port <= 65535,
                     "server port", b.port)


def render(cfg: FrontDoorConfig) -> str:
    check_config(cfg)
    lines = [
        "# Written by cargohold: changes are overwritten by the next apply.",
        f"{HEADER}{RENDERING}:{cfg.config_hash()}",
        "global",
        f"    stats socket {cfg.admin_socket} mode 600 level admin expose-fd listeners",
        *([f"    user {cfg.user}", f"    group {cfg.user}"] if cfg.user else []),
        *([f"    chroot {cfg.chroot}"] if cfg.chroot else []),
        # Old workers left by a reload finish their requests, then go; never longer than this.
        "    hard-stop-after 30s",
        f"    log {cfg.log_socket} len 4096 local0 info",
        "",
        "defaults",
        "    mode http",
        "    log global",
        # One line per request; `site=` tells the log writer which site's log area it belongs to.
        '    log-format "%ci [%tr] site=%b server=%s %ST %B %Tt \\"%r\\""',
        f"    timeout connect {_ms(cfg.connect_timeout)}",
        f"    timeout client {_ms(cfg.client_timeout)}",
        f"    timeout server {_ms(cfg.server_timeout)}",
        "    timeout http-request 10s",
        # Large bodies (uploads, images) move between sockets in the kernel, not through buffers.
        "    option splice-auto",
        # A request that meets a dead instance is sent to another one: connection failures always,
        # empty responses and time-outs only for methods that may be repeated (not POST).
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout",
        f"    default-server check inter {_ms(cfg.check_interval)} fall {cfg.fall} rise {cfg.rise}",
        "",
        "frontend http",
        f"    bind {cfg.bind}",
        *([f"    bind {cfg.https_bind} ssl " + " ".join(f"crt {c}" for c in cfg.certificates)]
          if cfg.https_bind else []),
        "    http-request disable-l7-retry if METH_POST",
        f"    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {cfg.max_upload} }}",
        # A chunked body has no length to check against max_upload: refused with 411 (browsers send
        # Content-Length for uploads).
        '    http-request return status 411 content-type "text/plain" string "length required\\n" '
        "if { req.hdr(transfer-encoding) -m found }",
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    ]
    for site in cfg.sites:
        names = " ".join((site.domain, *site.aliases))
        lines.append(f"    acl site_{site.domain} var(txn.host) -m str {names}")
        if site.aliases and site.redirect_aliases:
            lines.append(f"    acl alias_{site.domain} var(txn.host) -m str {' '.join(site.aliases)}")
            # Keep the visitor's scheme: an HTTPS visitor is never sent to http://.
            lines.append(f"    http-request redirect prefix https://{site.domain} code 301 "
                         f"if alias_{site.domain} {{ ssl_fc }}")
            lines.append(f"    http-request redirect prefix http://{site.domain} code 301 "
                         f"if alias_{site.domain} !{{ ssl_fc }}")
    for site in cfg.sites:
        lines.append(f"    use_backend {site.domain} if site_{site.domain}")
    lines += ["    default_backend no_such_site", ""]
    lines += [
        "backend no_such_site",
        '    http-request return status 404 content-type "text/plain" string "no site here\\n"',
        "",
    ]
    for site in cfg.sites:
        lines.append(f"backend {site.domain}")
        if site.health_path:
            lines += [
                "    option httpchk",
                f"    http-check send meth GET uri {site.health_path} ver HTTP/1.1 hdr Host {site.domain}",
                "    http-check expect status 200-399",
            ]
        for b in site.backends:
            lines.append(f"    server {b.name} {b.address}:{b.port}")
        lines.append("")
    return "\n".join(lines)
