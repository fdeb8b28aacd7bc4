"""Engines on the network only with TLS: the lab's engine also listens on tcp://127.0.0.1 with
--tlsverify (a lab CA made by openssl), and cargohold reaches it there, verifying its certificate."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest

from cargohold.lab import Lab
from cargohold.lab.tls import lab_ca
from conftest import FleetFixture, demo_site

DOMAIN = "tls.example.com"


def tls_fleet(fleet: FleetFixture, lab: Lab, tls: dict | None) -> None:
    fleet.write([demo_site(DOMAIN, 21300)], **({"engine_tls": tls} if tls else {}))
    fleet.path.write_text(fleet.path.read_text().replace(fleet.engine_url, lab.engine.tcp_url))


def test_a_tcp_engine_is_used_over_verified_tls_and_plain_tcp_is_refused(fleet: FleetFixture, lab: Lab, tmp_path):
    files = lab.engine.tls_dir
    tls_fleet(fleet, lab, None)
    plain = fleet.cli("plan")
    assert plain.code == 2 and "plain TCP" in plain.err

    tls_fleet(fleet, lab, {"ca": str(files / "ca.pem"), "cert": str(files / "cert.pem"),
                           "key": str(files / "key.pem")})
    fleet.cli("storage", "init")
    result = fleet.cli("apply")
    assert result.code == 0, result.err
    assert len(fleet.containers(DOMAIN)) == 2
    assert fleet.cli("plan", "--json").json()["changes"] == 0

    # Another CA's view of the same engine: the engine's certificate is not trusted, nothing runs.
    other = lab_ca(tmp_path / "other-ca")
    tls_fleet(fleet, lab, {"ca": str(other / "ca.pem"), "cert": str(other / "cert.pem"),
                           "key": str(other / "key.pem")})
    wrong = fleet.cli("plan")
    # The node is unreachable for cargohold (named, with the TLS reason), and nothing is planned on it.
    assert wrong.code == 1 and "error: node web1 is unreachable" in wrong.err, wrong.out + wrong.err
    assert "certificate" in wrong.err.lower(), wrong.err
    assert fleet.cli("apply").code == 1
    assert len(fleet.containers(DOMAIN)) == 2, "nothing changed on the engine it does not trust"


def test_the_engine_port_answers_nobody_without_a_client_certificate(lab: Lab):
    port_url = lab.engine.tcp_url.replace("tcp://", "https://")
    context = ssl.create_default_context(cafile=str(lab.engine.tls_dir / "ca.pem"))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(port_url + "/version", timeout=5, context=context).read()
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(lab.engine.tcp_url.replace("tcp://", "http://") + "/version", timeout=5).read()
