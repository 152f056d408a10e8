"""Throw-away PKI for a loopback control plane: a CA, the API server's serving
certificate, and the service-account signing key pair. EC P-256 throughout (fast
to generate; the API server accepts ES256 for service-account tokens)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path
    ca_key: Path
    """Kept so test helpers (e.g. the fault proxy) can issue serving certificates the clients trust."""


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, sans: tuple[str, ...] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Pki:
    """Write a fresh CA, serving pair (valid for ``hosts`` and the in-cluster names) and SA keys."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jupyternetes-test-ca")])
    ca = _cert("jupyternetes-test-ca", ca_key, ca_name, ca_key, ca=True)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    sans = (*hosts, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "10.0.0.1")
    serving = _cert("kube-apiserver", serving_key, ca_name, ca_key, ca=False, sans=sans)
    sa_key = ec.generate_private_key(ec.SECP256R1())

    pki = Pki(directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key",
              directory / "sa.key", directory / "sa.pub", directory / "ca.key")
    _write_key(ca_key, pki.ca_key)
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    _write_key(serving_key, pki.serving_key)
    _write_key(sa_key, pki.sa_key)
    pki.sa_pub.write_bytes(sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


def issue_serving_cert(pki: Pki, directory: Path, name: str, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
                       ) -> tuple[Path, Path]:
    """A serving certificate and key for ``hosts`` signed by ``pki``'s CA, written to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the test CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    cert, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    issued = _cert(name, key, ca.subject, ca_key, ca=False, sans=hosts)
    cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert, key_path
