"""notation's trusted identities: DN parsing with its escapes, subset matching."""

from __future__ import annotations

import pytest

from dockyard.supplychain.signatures.x509chain import identity_matches, parse_dn, subject_text
from tests.support import signing


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("C=US, ST=WA, O=acme", [("C", "US"), ("ST", "WA"), ("O", "acme")]),
        ("c=US;st=WA", [("C", "US"), ("ST", "WA")]),
        ("O=acme\\, inc., CN=x", [("O", "acme, inc."), ("CN", "x")]),
        ("O=a\\;b, CN=c\\\\d", [("O", "a;b"), ("CN", "c\\d")]),
        ("CN=\\ padded\\ ", [("CN", " padded ")]),
        ("S=WA, emailAddress=a@b", [("ST", "WA"), ("E", "a@b")]),
        ("O=a=b", [("O", "a=b")]),
    ],
)
def test_parse_dn(text: str, pairs: list[tuple[str, str]]) -> None:
    assert parse_dn(text) == pairs


@pytest.mark.parametrize("text", ["", "C=US,", "garbage", "=x", "C=", ", ,"])
def test_parse_dn_refuses(text: str) -> None:
    assert parse_dn(text) is None


def test_identity_matching() -> None:
    pki = signing.make_ca_and_leaf(
        leaf_subject=signing.name(C="US", ST="WA", O="acme, inc.", CN="builder")
    )
    assert subject_text(pki.leaf) == "C=US, ST=WA, O=acme, inc., CN=builder"
    assert identity_matches("*", pki.leaf)
    assert identity_matches("x509.subject: C=US, ST=WA, O=acme\\, inc.", pki.leaf)
    assert identity_matches("  x509.subject :CN=builder, C=US  ", pki.leaf)
    assert not identity_matches("x509.subject: C=US, ST=WA, O=acme", pki.leaf)
    assert not identity_matches("x509.subject: C=US, ST=WA, O=acme\\, inc., L=Seattle", pki.leaf)
    assert not identity_matches("C=US", pki.leaf)
    assert not identity_matches("x509.subject:", pki.leaf)
