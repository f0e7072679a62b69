"""Asking a configured scanner adapter (Harbor's Pluggable Scanner Adapter API) to scan
one artifact: the adapter pulls it from this registry with a short-lived bearer token
that grants pull on that one repository and nothing else, minted for the subject
`scanner:<adapter>` (a name no user or robot can have: robots are `robot$…`). The pull
gate lets that subject through, as Harbor's scanner robots are: it must read an image
before the image has a report."""

from __future__ import annotations

from typing import Any

from dockyard.metadata.records import ManifestRecord
from dockyard.supplychain.adapter import ScannerAdapterClient, ScanTarget
from dockyard.supplychain.enforce import SCANNER_PREFIX as SUBJECT_PREFIX
from dockyard.supplychain.model import Finding
from dockyard.supplychain.settings import AdapterSettings


def registry_url(services: Any, adapter: AdapterSettings) -> str:
    if adapter.registry_url is not None:
        return str(adapter.registry_url).rstrip("/")
    public = services.settings.server.public_url
    if not public:
        raise ValueError(
            f"adapter {adapter.name}: set supplychain.adapters[].registry_url or "
            "server.public_url, the address the adapter pulls from"
        )
    return str(public).rstrip("/")


def pull_token(services: Any, adapter: AdapterSettings, repository: str) -> str:
    issued = services.auth.tokens.issue(
        SUBJECT_PREFIX + adapter.name,
        [{"type": "repository", "name": repository, "actions": ["pull"]}],
        "robot",
    )
    return f"Bearer {issued.token}"


async def scan_with_adapter(
    services: Any, adapter: AdapterSettings, repository: str, record: ManifestRecord
) -> list[Finding]:
    url = registry_url(services, adapter)
    target = ScanTarget(repository, record.digest, record.media_type)
    async with ScannerAdapterClient(adapter) as client:
        report = await client.scan(target, url, pull_token(services, adapter, repository))
    return list(report.findings)
