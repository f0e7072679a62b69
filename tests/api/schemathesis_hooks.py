"""Loaded by schemathesis (SCHEMATHESIS_HOOKS): what the API's own string formats mean,
so the fuzzer's "valid" data is valid, and which made-up headers never reach the server.
`pem-public-key` and `pem-certificate` (supply-chain trust material) are PEM documents
the server parses when a policy is set; a random string matching a pattern is not one,
and refusing it is right."""

from __future__ import annotations

import datetime as dt

import schemathesis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st


def _public_pems() -> list[str]:
    keys = [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ed25519.Ed25519PrivateKey.generate(),
    ]
    return [
        k.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        for k in keys
    ]


def _certificate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "schemathesis CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


schemathesis.openapi.format("pem-public-key", st.sampled_from(_public_pems()))
schemathesis.openapi.format("pem-certificate", st.just(_certificate_pem()))


@schemathesis.hook
def filter_headers(context: object, headers: dict[str, object] | None) -> bool:
    """The run authenticates with `--auth`, which replaces any Authorization header the
    fuzzer makes up: a case whose only fault was a malformed Authorization would reach the
    server well authenticated, and its 200 be counted as "invalid data accepted". Such
    cases are not generated; bad credentials are tested in tests/access."""
    return not any(str(name).lower() == "authorization" for name in headers or {})
