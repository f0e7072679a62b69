"""The pure parts of the client: challenges, Link pages, rate-limit headers,
Retry-After, referrer descriptors."""

from __future__ import annotations

import datetime as dt

from dockyard.remote.auth import parse_challenge
from dockyard.remote.parse import next_link, parse_rate_limit, parse_referrers, retry_after


def test_challenges() -> None:
    bearer = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull",error="insufficient_scope"'
    )
    assert bearer is not None and bearer.scheme == "bearer" and bearer.insufficient_scope
    assert bearer.params["realm"] == "https://auth.docker.io/token"
    assert bearer.params["scope"] == "repository:library/nginx:pull"
    basic = parse_challenge('Basic realm="go-registry"')
    assert basic is not None and basic.scheme == "basic" and not basic.insufficient_scope
    assert parse_challenge("Negotiate abc") is None and parse_challenge(None) is None


def test_links() -> None:
    assert (
        next_link('</v2/a/tags/list?n=50&last=t49>; rel="next"') == "/v2/a/tags/list?n=50&last=t49"
    )
    assert next_link("<https://x.example/v2/_catalog?last=b>; rel=next") == (
        "https://x.example/v2/_catalog?last=b"
    )
    assert next_link('</p1>; rel="prev", </p3>; rel="next"') == "/p3"
    assert next_link('</p1>; rel="prev"') is None and next_link(None) is None


def test_rate_limit_headers() -> None:
    assert parse_rate_limit(
        {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600"}
    ) == (100, 76)
    assert parse_rate_limit({"ratelimit-limit": "junk"}) == (None, None)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert retry_after({"retry-after": "30"}) == 30.0
    assert retry_after({"retry-after": "Thu, 01 Jan 2026 00:01:00 GMT"}, now) == 60.0
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


def test_referrers_skip_junk() -> None:
    good = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "a" * 64,
        "size": 10,
        "artifactType": "x/y",
        "annotations": {"k": "v"},
    }
    found = parse_referrers(
        [good, {"digest": "sha256:zz"}, "nonsense", {**good, "size": -1}, {**good, "size": True}]
    )
    assert [(r.digest, r.artifact_type, r.annotations) for r in found] == [
        ("sha256:" + "a" * 64, "x/y", {"k": "v"})
    ]
