"""verify_tls: an adapter behind a certificate Dockyard does not trust is refused unless
verification is turned off for it."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockyard.supplychain.adapter import ScannerAdapterClient
from tests.supplychain_adapter.conftest import settings_for
from tests.support.scanner_adapter import ScannerAdapterServer, scanner_adapter


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_file, key_file = tmp / "adapter.pem", tmp / "adapter.key"
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_adapter(tmp_path: Path) -> Iterator[ScannerAdapterServer]:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with scanner_adapter(tls=context) as server:
        yield server


async def test_untrusted_certificate_is_refused_when_verifying(
    tls_adapter: ScannerAdapterServer,
) -> None:
    async with ScannerAdapterClient(settings_for(tls_adapter.url)) as client:
        health = await client.health()
    assert not health.healthy
    assert health.message.startswith(f"metadata: cannot connect to {tls_adapter.url}/api/v1 (")
    assert "CERTIFICATE_VERIFY_FAILED" in health.message
    assert tls_adapter.requests == []


async def test_verify_tls_off_talks_to_it(tls_adapter: ScannerAdapterServer) -> None:
    settings = settings_for(tls_adapter.url, verify_tls=False)
    async with ScannerAdapterClient(settings) as client:
        health = await client.health()
    assert (health.healthy, health.message) == (True, "Trivy 0.58.1 (Aqua Security), API 1.2")
    assert [r.path for r in tls_adapter.requests] == ["/api/v1/metadata"]
