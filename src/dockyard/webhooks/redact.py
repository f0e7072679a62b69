"""Credentials out of what is shown: a webhook URL may carry a user and password
(`https://user:pass@host/`) or a token in its query (`?token=…`, `sig=`, `key=` …),
and an error message (httpx names the URL) may repeat them. What the delivery log,
the API and the log lines show passes through here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# query parameters that carry a credential (compared lowercased, '-' read as '_')
SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "auth",
        "auth_token",
        "sig",
        "signature",
        "key",
        "api_key",
        "apikey",
        "secret",
        "password",
        "pass",
        "pwd",
        "code",
        "client_secret",
        "x_amz_signature",
        "x_goog_signature",
    }
)
_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+", re.IGNORECASE)


def _secret_param(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_PARAMS


def redact_url(url: str) -> str:
    """`url` with its userinfo and credential-bearing query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _secret_param(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment and MASK))


def url_secrets(url: str) -> list[str]:
    """The credential strings inside `url` (password, user, secret query values)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [p for p in (parts.password, parts.username) if p]
    found += [
        v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _secret_param(k) and v
    ]
    if parts.fragment:
        found.append(parts.fragment)
    return found


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every URL in it redacted and every known secret string masked."""
    out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out
