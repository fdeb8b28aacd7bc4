"""Every renderer refuses what it cannot write safely, called directly with hostile values (the
fleet file's validation is the first line; these are the second)."""

from __future__ import annotations

import dataclasses

import pytest

from cargohold.dev import compose_yaml, makefile
from cargohold.errors import UsageError
from cargohold.fleet.schema import Site
from cargohold.frontdoor.config import Backend, FrontDoorConfig, SiteRoute, UnsafeValue, render
from cargohold.nodes.local import LocalExecutor
from cargohold.storage.gluster.cli import GlusterCLI, GlusterError

LUA = "127.0.0.1:9\nglobal\n    lua-load /tmp/x.lua\n#"


def config(**change: object) -> FrontDoorConfig:
    site = SiteRoute("a.example.com", ("b.example.com",), True, "/healthz", (Backend("i1", "127.0.0.1", 20000),))
    base = FrontDoorConfig(log_socket="/run/fd/log.sock", bind="127.0.0.1:80", https_bind="127.0.0.1:443",
                           certificates=("/etc/fd/a.pem",), admin_socket="/run/fd/admin.sock", connect_timeout=5,
                           client_timeout=30, server_timeout=30, max_upload=1 << 20, check_interval=1, fall=2,
                           rise=2, sites=(site,), user="haproxy", chroot="/run/fd/chroot")
    return dataclasses.replace(base, **change)


def route(**change: object) -> SiteRoute:
    return dataclasses.replace(config().sites[0], **change)


@pytest.mark.parametrize("cfg", [
    config(bind=LUA), config(log_socket="/run/x\n    lua-load /tmp/x.lua"), config(admin_socket="/run/a b"),
    config(certificates=("/etc/a.pem\n    lua-load /x",)), config(chroot="/run/#x"), config(user="root\nuser x"),
    config(sites=(route(domain="a.example.com\n"),)), config(sites=(route(aliases=("bank.example.com\n",)),)),
    config(sites=(route(health_path="/h ver HTTP/1.1\n"),)),
    config(sites=(route(backends=(Backend("i1", LUA, 20000),)),)),
    config(sites=(route(backends=(Backend("i1 x", "127.0.0.1", 20000),)),)),
    config(sites=(route(backends=(Backend("i1", "127.0.0.1", 70000),)),)),
    config(max_upload=True), config(fall=0), config(bind="*:80 ssl crt /etc/x.pem"), config(https_bind="/run/x"),
], ids=lambda c: "hostile")
def test_haproxy_renderer_refuses_hostile_values(cfg):
    with pytest.raises(UnsafeValue):
        render(cfg)


def test_haproxy_binds_every_address_when_asked():
    text = render(config(bind="*:80", https_bind="*:443"))
    assert "    bind *:80\n" in text and "    bind *:443 ssl crt /etc/fd/a.pem" in text


def test_haproxy_config_drops_privileges_keeps_the_scheme_and_refuses_chunked_bodies():
    text = render(config())
    assert "    user haproxy\n    group haproxy\n    chroot /run/fd/chroot" in text
    assert "redirect prefix https://a.example.com code 301 if alias_a.example.com { ssl_fc }" in text
    assert "redirect prefix http://a.example.com code 301 if alias_a.example.com !{ ssl_fc }" in text
    assert "return status 411" in text and "req.hdr(transfer-encoding) -m found" in text


@pytest.mark.parametrize("args", [("volume", "set", "web", "network.ping-timeout", "--help"),
                                  ("volume", "set", "web", "auth.allow", "5 --mode=x"),
                                  ("volume", "set", "web", "auth.allow", "a\nb"), ("peer", "probe", "")])
def test_gluster_argv_refuses_a_flag_or_more_than_one_word(args):
    with pytest.raises(GlusterError):
        GlusterCLI(LocalExecutor("s1")).argv(*args)


def test_gluster_argv_passes_plain_words():
    assert GlusterCLI(LocalExecutor("s1"), "/run/g.sock").argv("volume", "set", "web", "auth.allow",
                                                                "127.0.0.1,10.0.0.2", xml=True) == [
        "gluster", "--glusterd-sock=/run/g.sock", "--mode=script", "volume", "set", "web", "auth.allow",
        "127.0.0.1,10.0.0.2", "--xml"]


@pytest.mark.parametrize("change", [{"domain": "a.example.com\nall:\n\trm -rf /"}, {"logs": "/var/log/x $(rm -rf /)"},
                                    {"writable": {"/var/www/files": "files\n"}}, {"port": "80\nx"}])
def test_compose_and_makefile_refuse_a_hostile_site_even_without_validation(change):
    site = Site.model_construct(**{**Site.model_validate({"domain": "a.example.com", "image": "demo:1",
                                                          "port": 20000, "logs": "/var/log/app"}).__dict__,
                                   **change})
    for renderer in (makefile, compose_yaml):
        with pytest.raises(UsageError):
            renderer(site)


def test_compose_and_makefile_take_only_validated_sites():
    """The dev renderers get a Site that validation built: a hostile value never reaches them."""
    with pytest.raises(ValueError):
        Site.model_validate({"domain": "a.example.com", "image": "demo:1", "port": 20000,
                             "env": {"A": "x\nprivileged: true"}})
