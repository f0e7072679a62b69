"""An advisory's severity: the base score of its CVSS vector (the `cvss` library), v3.x
preferred over v4 (the one most advisories carry, so reports compare), the affected
package's own before the record's; else the qualitative word it names (GitHub's
database_specific.severity, Debian's urgency, Ubuntu's priority)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cvss import CVSS3, CVSS4, CVSSError  # type: ignore[import-untyped]

from dockyard.supplychain.model import Severity

_CVSS_TYPES = ("CVSS_V3", "CVSS_V4")
_TEXT_TYPES = ("Ubuntu",)


@dataclass(frozen=True, slots=True)
class Assessment:
    severity: Severity
    score: float | None = None
    vector: str | None = None


@lru_cache(maxsize=4096)
def base_score(kind: str, vector: str) -> float | None:
    """The base score of a CVSS v3.x / v4 vector, or None for one that is not valid."""
    try:
        parsed = CVSS3(vector) if kind == "CVSS_V3" else CVSS4(vector)
        return float(parsed.base_score)
    except (CVSSError, ValueError, KeyError, IndexError, ArithmeticError):
        return None


def assess(
    severities: Sequence[Sequence[str]],
    texts: Sequence[str] = (),
) -> Assessment:
    """`severities`: OSV `severity` entries ([type, score]), most specific first;
    `texts`: qualitative words, most specific first."""
    for kind in _CVSS_TYPES:
        for entry in severities:
            if len(entry) == 2 and entry[0] == kind:
                score = base_score(kind, entry[1])
                if score is not None:
                    return Assessment(Severity.of_score(score), score, entry[1])
    words = [e[1] for e in severities if len(e) == 2 and e[0] in _TEXT_TYPES]
    for word in (*texts, *words):
        severity = Severity.parse(word)
        if severity is not Severity.UNKNOWN:
            return Assessment(severity)
    return Assessment(Severity.UNKNOWN)
