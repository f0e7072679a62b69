"""Fixtures: the loopback scanner adapter (with its stub registry) and clients of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from dockyard.supplychain.adapter import PollTiming, ScannerAdapterClient, ScanTarget
from dockyard.supplychain.settings import AdapterSettings
from tests.support.scanner_adapter import ScannerAdapterServer, scanner_adapter

REGISTRY_AUTH = "Bearer registry-token-for-the-scanner"
ADAPTER_AUTH = "Bearer adapter-api-key"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()


class SleepLog:
    """An injected sleep: records each requested interval and yields once, no waiting."""

    def __init__(self) -> None:
        self.intervals: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.intervals.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def adapter() -> Iterator[ScannerAdapterServer]:
    with scanner_adapter() as server:
        server.behaviour.authorization = ADAPTER_AUTH
        server.registry.authorization = REGISTRY_AUTH
        yield server


@pytest.fixture
def target(adapter: ScannerAdapterServer) -> ScanTarget:
    digest = adapter.registry.add("team/app", MANIFEST)
    return ScanTarget("team/app", digest, "application/vnd.oci.image.manifest.v1+json", "1.0")


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


def settings_for(url: str, **kw: Any) -> AdapterSettings:
    values: dict[str, Any] = {"name": "trivy", "url": url, "authorization": ADAPTER_AUTH}
    values.update(kw)
    return AdapterSettings.model_validate(values)


MakeClient = Callable[..., ScannerAdapterClient]


@pytest.fixture
async def make_client(adapter: ScannerAdapterServer, sleeps: SleepLog) -> AsyncIterator[MakeClient]:
    made: list[ScannerAdapterClient] = []

    def make(url: str | None = None, *, poll: PollTiming | None = None, **kw: Any) -> Any:
        client_kw = {k: kw.pop(k) for k in ("request_timeout", "max_response_bytes") if k in kw}
        client = ScannerAdapterClient(
            settings_for(url or adapter.url, **kw), poll=poll, sleep=sleeps, **client_kw
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: MakeClient) -> ScannerAdapterClient:
    return make_client()
