"""The API's last line of defence, in process: an unexpected exception is a logged
500 in the error shape, never a traceback on the wire or a dropped connection."""

from __future__ import annotations

import logging

import httpx
import pytest

from dockyard.http.api.app import ApiEntry


async def test_an_unexpected_failure_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    entry = ApiEntry()

    @entry.app.get("/api/v1/explode")
    async def explode() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=entry)
    with caplog.at_level(logging.ERROR, logger="dockyard.http.api.app"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/api/v1/explode")
            # reached without the dispatcher: no DockyardApp in scope, also a 500
            lost = await client.get("/api/v1/users/current")
    for response in (r, lost):
        assert response.status_code == 500
        assert response.json() == {
            "errors": [{"code": "UNKNOWN", "message": "internal server error"}]
        }
        assert "boom" not in response.text
    assert [rec.message for rec in caplog.records].count(
        "unhandled error in GET /api/v1/explode"
    ) == 1
