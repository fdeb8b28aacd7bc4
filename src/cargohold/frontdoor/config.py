"""Render an HAProxy configuration from what should be routed where. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    """One instance as the runtime reports it (address and port observed, never assumed)."""

    name: str  # i1, i2, …
    address: str
    port: int


@dataclass(frozen=True)
class SiteRoute:
    domain: str
    aliases: tuple[str, ...]
    redirect_aliases: bool
    health_path: str | None
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class FrontDoorConfig:
    log_socket: str
    bind: str
    https_bind: str | None
    certificates: tuple[str, ...]
    admin_socket: str
    connect_timeout: float
    client_timeout: float
    server_timeout: float
    max_upload: int
    check_interval: float
    fall: int
    rise: int
    sites: tuple[SiteRoute, ...]


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def render(cfg: FrontDoorConfig) -> str:
    lines = [
        "# Written by cargohold: changes are overwritten by the next apply.",
        "global",
        f"    stats socket {cfg.admin_socket} mode 600 level admin expose-fd listeners",
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
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    ]
    for site in cfg.sites:
        names = " ".join((site.domain, *site.aliases))
        lines.append(f"    acl site_{site.domain} var(txn.host) -m str {names}")
        if site.aliases and site.redirect_aliases:
            lines.append(f"    acl alias_{site.domain} var(txn.host) -m str {' '.join(site.aliases)}")
            lines.append(f"    http-request redirect prefix http://{site.domain} code 301 if alias_{site.domain}")
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
