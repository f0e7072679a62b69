"""GET /api/v1/metadata: parsed, validated, the report type chosen."""

from __future__ import annotations

import pytest

from dockyard.supplychain.adapter import (
    AdapterError,
    AdapterMetadata,
    Capability,
    ScannerAdapterClient,
    ScannerInfo,
)
from tests.supplychain_adapter.conftest import ADAPTER_AUTH, MakeClient
from tests.support.scanner_adapter import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    REPORT_V11,
    ScannerAdapterServer,
)

HARBOR_V10 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
RAW = "application/vnd.scanner.adapter.vuln.report.raw"
SBOM = "application/vnd.security.sbom.report+json; version=1.0"


async def test_v12_metadata_is_read_whole(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    meta = await client.metadata()
    assert meta == AdapterMetadata(
        scanner=ScannerInfo("Trivy", "Aqua Security", "0.58.1"),
        capabilities=(Capability("vulnerability", (OCI_MANIFEST, DOCKER_MANIFEST), (REPORT_V11,)),),
        properties={
            "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
            "harbor.scanner-adapter/vulnerability-database-updated-at": "2026-11-30T06:00:00Z",
        },
        report_mime_type=REPORT_V11,
        api_version="1.2",
    )
    assert meta.database_updated_at == "2026-11-30T06:00:00Z"
    assert meta.consumes(OCI_MANIFEST) and not meta.consumes(
        "application/vnd.oci.image.index.v1+json"
    )
    [request] = adapter.seen("GET", "/api/v1/metadata")
    assert request.headers["accept"] == (
        "application/vnd.scanner.adapter.metadata+json; version=1.1, "
        "application/vnd.scanner.adapter.metadata+json; version=1.0"
    )
    assert request.headers["authorization"] == ADAPTER_AUTH


async def test_metadata_is_kept_until_refreshed(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    first = await client.metadata()
    assert await client.metadata() is first
    await client.metadata(refresh=True)
    assert len(adapter.seen("GET", "/api/v1/metadata")) == 2


async def test_v11_capability_without_type_counts_as_vulnerability(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    adapter.behaviour.api_version = "1.1"
    meta = await client.metadata()
    assert meta.api_version == "1.1"
    assert meta.capabilities[0].type == "vulnerability"
    assert meta.report_mime_type == REPORT_V11


async def test_harbor_v10_report_is_used_when_v11_is_not_offered(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    adapter.behaviour.produces = (RAW, HARBOR_V10)
    assert (await client.metadata()).report_mime_type == HARBOR_V10


async def test_v11_report_is_preferred_and_spelled_as_the_adapter_spells_it(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    spelled = "application/vnd.security.vulnerability.report;version=1.1"
    adapter.behaviour.produces = (HARBOR_V10, spelled)
    assert (await client.metadata()).report_mime_type == spelled


async def test_adapter_without_a_readable_report_is_refused(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    adapter.behaviour.produces = (RAW, SBOM)
    with pytest.raises(AdapterError) as err:
        await client.metadata()
    assert str(err.value) == (
        "scanner adapter 'trivy': metadata: does not produce a vulnerability report Dockyard "
        f"reads ({REPORT_V11} or {HARBOR_V10}); it produces: {RAW}, {SBOM}"
    )
    assert "\n" not in str(err.value)


async def test_health_reports_the_scanner(client: ScannerAdapterClient) -> None:
    health = await client.health()
    assert (health.adapter, health.healthy) == ("trivy", True)
    assert health.message == "Trivy 0.58.1 (Aqua Security), API 1.2"
    assert health.metadata is not None and health.metadata.scanner.name == "Trivy"


async def test_health_of_a_failing_adapter_is_unhealthy_not_an_exception(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    adapter.behaviour.fail = "metadata_500"
    health = await client.health()
    assert (health.healthy, health.metadata) == (False, None)
    assert health.message == "metadata: failed (HTTP 500): trivy database is not ready"


async def test_the_configured_url_may_name_the_api_root(
    adapter: ScannerAdapterServer, make_client: MakeClient
) -> None:
    client = make_client(f"{adapter.url}/api/v1/")
    await client.metadata()
    assert [r.path for r in adapter.requests] == ["/api/v1/metadata"]
