"""A lab certificate authority (openssl): server certificates for the lab's engines that listen on
an address, and a client certificate for cargohold, as dockerd --tlsverify expects them."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def lab_ca(directory: Path, server_ip: str = "127.0.0.1") -> Path:
    """ca.pem, server-cert.pem/server-key.pem (for server_ip), cert.pem/key.pem (client) in
    directory, made once; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (directory / "cert.pem").exists():
        return directory
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=cargohold lab CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=directory)
    (directory / "server.ext").write_text(f"subjectAltName=IP:{server_ip}\nextendedKeyUsage=serverAuth\n")
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who, subject in (("server", f"/CN={server_ip}"), ("client", "/CN=cargohold")):
        key = "server-key.pem" if who == "server" else "key.pem"
        cert = "server-cert.pem" if who == "server" else "cert.pem"
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", f"{who}.csr",
                 cwd=directory)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "30", "-extfile", f"{who}.ext", "-out", cert, cwd=directory)
    for key in ("ca-key.pem", "server-key.pem", "key.pem"):
        (directory / key).chmod(0o600)
    return directory


def storage_ca(directory: Path, common_name: str = "cargohold-storage") -> Path:
    """ca.pem, cert.pem, key.pem for GlusterFS's TLS: one certificate that bricks and clients both
    present (no extended key usage: it serves as server and as client), made once."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (directory / "cert.pem").exists():
        return directory
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=cargohold storage CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}", "-keyout", "key.pem",
             "-out", "cert.csr", cwd=directory)
    _openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
             "-days", "30", "-out", "cert.pem", cwd=directory)
    for key in ("ca-key.pem", "key.pem"):
        (directory / key).chmod(0o600)
    return directory


def server_certificate(ca_dir: Path, directory: Path, server_ip: str) -> Path:
    """A server certificate for server_ip signed by ca_dir's CA (made by lab_ca), beside copies of
    the CA's certificate and its client certificate and key: the files one engine's --tlsverify
    needs and a client of it uses. Made once; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (directory / "server-cert.pem").exists():
        return directory
    (directory / "server.ext").write_text(f"subjectAltName=IP:{server_ip}\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={server_ip}", "-keyout", "server-key.pem",
             "-out", "server.csr", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", str(ca_dir / "ca.pem"), "-CAkey", str(ca_dir / "ca-key.pem"),
             "-CAcreateserial", "-days", "30", "-extfile", "server.ext", "-out", "server-cert.pem", cwd=directory)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (directory / name).write_bytes((ca_dir / name).read_bytes())
    for key in ("server-key.pem", "key.pem"):
        (directory / key).chmod(0o600)
    return directory
