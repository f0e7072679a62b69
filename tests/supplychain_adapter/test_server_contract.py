"""The loopback adapter keeps the spec's side of the contract, so the client passing
against it means something: ScanRequest shapes are checked, reports poll with 302."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.scanner_adapter import (
    ERROR,
    REPORT_V11,
    SCAN_REQUESTS,
    ScannerAdapterServer,
    scanner_adapter,
)

DIGEST = "sha256:" + "b" * 64


@pytest.fixture
def raw() -> Iterator[tuple[ScannerAdapterServer, httpx.Client]]:
    with scanner_adapter() as server, httpx.Client(base_url=server.url) as http:
        yield server, http


def post(http: httpx.Client, body: Any, content_type: str = SCAN_REQUESTS[0]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/api/v1/scan", content=content, headers={"Content-Type": content_type})


def valid(**artifact: Any) -> dict[str, Any]:
    return {
        "registry": {"url": "http://127.0.0.1:1", "authorization": "Basic eDp5"},
        "artifact": {"repository": "a/b", "digest": DIGEST, **artifact},
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, None),
        ([], 400, "scan request is not an object"),
        ({"registry": "x", "artifact": {}}, 400, "registry is not an object"),
        ({**valid(), "registry": {"url": 5}}, 400, "registry.url is not a string"),
        (valid(digest=None), 400, "artifact.digest is not a string"),
        ({"artifact": {}}, 422, "missing registry"),
        ({**valid(), "registry": {"url": ""}}, 422, "missing registry.url"),
        ({**valid(), "registry": {"url": "ftp://x"}}, 422, "invalid registry.url"),
        (valid(repository=""), 422, "missing artifact.repository"),
        (valid(digest="sha256"), 422, "invalid artifact.digest"),
        ({**valid(), "enabled_capabilities": [{"type": "malware"}]}, 422, "invalid scan type"),
        ({**valid(), "enabled_capabilities": {}}, 400, None),
    ],
)
def test_scan_requests_are_validated(
    raw: tuple[ScannerAdapterServer, httpx.Client], body: Any, status: int, message: str | None
) -> None:
    _, http = raw
    r = post(http, body)
    assert r.status_code == status
    assert r.headers["content-type"] == ERROR
    if message is not None:
        assert r.json() == {"error": {"message": message}}


def test_content_type_must_be_a_scan_request(
    raw: tuple[ScannerAdapterServer, httpx.Client],
) -> None:
    _, http = raw
    assert post(http, valid(), "application/json").status_code == 415


def test_report_polling_then_pull_failure(raw: tuple[ScannerAdapterServer, httpx.Client]) -> None:
    server, http = raw
    server.behaviour.pending_polls = 1
    r = post(http, valid())
    assert r.status_code == 202
    scan_id = r.json()["id"]
    path = f"/api/v1/scan/{scan_id}/report"
    first = http.get(path, headers={"Accept": REPORT_V11})
    assert (first.status_code, first.headers["refresh-after"], first.headers["location"]) == (
        302,
        "1",
        path,
    )
    assert http.get(path, headers={"Accept": "text/plain"}).status_code == 501
    done = http.get(path, headers={"Accept": REPORT_V11})
    assert done.status_code == 500  # nothing listens on the registry URL it was given
    assert done.json()["error"]["message"].startswith("pulling http://127.0.0.1:1/v2/a/b/")
    assert http.get("/api/v1/scan/nope/report", headers={"Accept": REPORT_V11}).status_code == 404
