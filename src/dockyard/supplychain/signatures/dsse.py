"""DSSE envelopes and the in-toto statements they carry (secure-systems-lab/dsse
protocol.md, in-toto attestation spec v1): parsed from untrusted JSON, bounded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.supplychain.signatures import Reason
from dockyard.supplychain.signatures.common import (
    Rejected,
    b64decode,
    get_str,
    malformed,
    parse_object,
)

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = frozenset(
    {"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"}
)
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
"""the predicate type of cosign v3 `cosign sign` (an image signature, not an attestation)"""
MAX_ENVELOPE_SIGNATURES = 8
MAX_SUBJECTS = 256


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]

    def message(self) -> bytes:
        return pae(self.payload_type, self.payload)


def parse_envelope(doc: dict[str, Any]) -> Envelope:
    payload = b64decode(doc.get("payload"), "DSSE payload")
    payload_type = get_str(doc, "payloadType", "DSSE envelope")
    raw = doc.get("signatures")
    if not isinstance(raw, list) or not raw:
        raise malformed("DSSE envelope has no signatures")
    signatures = []
    for item in raw[:MAX_ENVELOPE_SIGNATURES]:
        if not isinstance(item, dict):
            raise malformed("DSSE signature is not an object")
        signatures.append(b64decode(item.get("sig"), "DSSE signature"))
    return Envelope(payload, payload_type, tuple(signatures))


@dataclass(frozen=True, slots=True)
class Statement:
    predicate_type: str
    subject_digests: tuple[tuple[str, str], ...]
    """(algorithm, hex) of each subject"""

    def names(self, digest: str) -> bool:
        """Whether one of the subjects is `digest` (sha256:… / sha512:…)."""
        algorithm, _, hexpart = digest.partition(":")
        return (algorithm, hexpart) in self.subject_digests


def parse_statement(envelope: Envelope) -> Statement:
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise malformed(f"DSSE payloadType {envelope.payload_type[:80]!r} is not in-toto")
    doc = parse_object(envelope.payload, what="in-toto statement")
    if doc.get("_type") not in STATEMENT_TYPES:
        raise malformed("in-toto statement has an unknown _type")
    predicate_type = get_str(doc, "predicateType", "in-toto statement")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise malformed("in-toto statement has no subject")
    digests: list[tuple[str, str]] = []
    for subject in subjects[:MAX_SUBJECTS]:
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), dict):
            raise malformed("in-toto subject without a digest")
        for algorithm, value in subject["digest"].items():
            if isinstance(algorithm, str) and isinstance(value, str):
                digests.append((algorithm.lower(), value.lower()))
    return Statement(predicate_type, tuple(digests))


def require_subject(statement: Statement, digest: str) -> None:
    if not statement.names(digest):
        raise Rejected(Reason.OTHER_DIGEST, "the in-toto statement names another digest")
