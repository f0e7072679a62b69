"""Every way an adapter can fail is an AdapterError with one line naming the adapter and
what failed; hostile bodies never crash the client."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest

from dockyard.supplychain.adapter import (
    AdapterError,
    PollTiming,
    ScannerAdapterClient,
    ScanTarget,
)
from tests.supplychain_adapter.conftest import ADAPTER_AUTH, REGISTRY_AUTH, MakeClient, settings_for
from tests.support.scanner_adapter import ScannerAdapterServer
from tests.support.server import free_port


async def failure(client: ScannerAdapterClient, target: ScanTarget, url: str) -> str:
    with pytest.raises(AdapterError) as err:
        await client.scan(target, url, REGISTRY_AUTH)
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith("scanner adapter 'trivy': ")
    assert ADAPTER_AUTH not in message and REGISTRY_AUTH not in message
    assert err.value.adapter == "trivy"
    return message.removeprefix("scanner adapter 'trivy': ")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


async def test_connection_refused(make_client: MakeClient, target: ScanTarget) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = make_client(url)
    message = await failure(client, target, url)
    assert message.startswith(f"metadata: cannot connect to {url}/api/v1 (")


async def test_an_adapter_that_never_answers_times_out(
    make_client: MakeClient, target: ScanTarget, silent_port: int
) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    client = make_client(url, request_timeout=0.2)
    assert await failure(client, target, url) == (f"metadata: no answer from {url}/api/v1 in time")


async def test_wrong_adapter_credentials(
    adapter: ScannerAdapterServer, make_client: MakeClient, target: ScanTarget
) -> None:
    client = make_client(authorization="Bearer wrong")
    assert await failure(client, target, adapter.url) == (
        "metadata: the adapter refused Dockyard's credentials (HTTP 401): unauthorized"
    )


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        ("metadata_500", "metadata: failed (HTTP 500): trivy database is not ready"),
        ("metadata_bad_json", "metadata: invalid JSON (Expecting value: line 1 column 1 (char 0))"),
        ("scan_500", "scan request: failed (HTTP 500): enqueuing scan job: redis is down"),
        ("scan_no_id", "scan request: scan response: id: Field required"),
        (
            "report_500",
            "report of scan {id}: failed (HTTP 500): scanning failed: database is locked",
        ),
        (
            "report_404",
            "report of scan {id}: the adapter does not know this scan (HTTP 404): "
            "cannot find scan job: {id}",
        ),
        (
            "report_bad_json",
            "report of scan {id}: invalid JSON (Expecting value: line 1 column 29 (char 28))",
        ),
        ("report_oversized", "report of scan {id}: response larger than 1048576 bytes"),
        ("report_oversized_chunked", "report of scan {id}: response larger than 1048576 bytes"),
        ("report_gzip_bomb", "report of scan {id}: response larger than 1048576 bytes"),
        ("report_wrong_digest", "report of scan {id} is for sha256:" + "0" * 64 + ", not {digest}"),
    ],
)
async def test_failure_modes(
    adapter: ScannerAdapterServer,
    make_client: MakeClient,
    target: ScanTarget,
    fail: str,
    expected: str,
) -> None:
    adapter.behaviour.fail = fail
    client = make_client(max_response_bytes=1 << 20)
    message = await failure(client, target, adapter.url)
    scan_id = next(iter(adapter.scans), "")
    assert message == expected.format(id=scan_id, digest=target.digest)


async def test_a_scan_that_never_finishes_times_out(
    adapter: ScannerAdapterServer, target: ScanTarget
) -> None:
    adapter.behaviour.fail = "report_never_finishes"
    adapter.behaviour.refresh_after = "0"
    settings = settings_for(adapter.url, timeout_seconds=0.5)
    poll = PollTiming(minimum=0.05, maximum=1.0, default=0.05)
    async with ScannerAdapterClient(settings, poll=poll) as client:  # the real asyncio.sleep
        message = await failure(client, target, adapter.url)
    polls = adapter.scans[next(iter(adapter.scans))].polls
    assert 3 <= polls <= 11
    assert re.fullmatch(
        rf"scan of {target.digest} timed out after 0\.[5-9] s "
        rf"\(limit 0\.5 s, {polls} report polls\)",
        message,
    ), message


async def test_registry_refusing_the_handed_over_credential(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.registry.authorization = "Bearer another-token"
    message = await failure(client, target, adapter.url)
    scan_id = next(iter(adapter.scans))
    assert message == (
        f"report of scan {scan_id}: failed (HTTP 500): pulling {adapter.url}/v2/team/app/"
        f"manifests/{target.digest}: HTTP 401"
    )
    assert adapter.scans[scan_id].pull_status == 401


async def test_artifact_type_the_adapter_does_not_scan(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    index = ScanTarget(target.repository, target.digest, "application/vnd.oci.image.index.v1+json")
    assert await failure(client, index, adapter.url) == (
        "does not scan artifacts of type application/vnd.oci.image.index.v1+json"
    )
    assert adapter.seen("POST", "/api/v1/scan") == []


async def test_no_registry_url(client: ScannerAdapterClient, target: ScanTarget) -> None:
    with pytest.raises(AdapterError) as err:
        await client.scan(target)
    assert str(err.value) == "scanner adapter 'trivy': no registry URL to hand the adapter"


async def test_the_adapter_rejecting_the_request_is_reported(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    bad = ScanTarget("team/app", "latest", "application/vnd.oci.image.manifest.v1+json")
    assert await failure(client, bad, adapter.url) == (
        "scan request: failed (HTTP 422): invalid artifact.digest"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"[]",
            "metadata: metadata: body: Input should be a valid dictionary or instance of "
            "WireMetadata",
        ),
        (b'{"capabilities": []}', "metadata: metadata: scanner: Field required"),
        (
            b'{"scanner": {}, "capabilities": [{"consumes_mime_types": 3}]}',
            "metadata: metadata: capabilities.0.consumes_mime_types: Input should be a valid list",
        ),
        (b"\xff\xfe{", "metadata: invalid JSON ("),
        (b"[" * 100_000 + b"]" * 100_000, "metadata: invalid JSON ("),
    ],
)
async def test_hostile_metadata(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    body: bytes,
    expected: str,
) -> None:
    adapter.behaviour.metadata_body = body
    message = await failure(client, target, adapter.url)
    assert message.startswith(expected)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"vulnerabilities": [{"package": "x"}]}',
            "report: vulnerabilities.0.id: Field required",
        ),
        (
            b'{"vulnerabilities": [{"id": "CVE-1", "preferred_cvss": {"score_v3": NaN}}]}',
            "invalid JSON (NaN is not JSON",
        ),
        (
            b'{"vulnerabilities": {"id": "CVE-1"}}',
            "report: vulnerabilities: Input should be a valid list",
        ),
        (
            b'{"vulnerabilities": [{"id": "CVE-1", "links": "https://x"}]}',
            "report: vulnerabilities.0.links: Input should be a valid list",
        ),
        (
            b'{"vulnerabilities": [{"id": "' + b"C" * 600 + b'"}]}',
            "report: vulnerabilities.0.id: String should have at most 512 characters",
        ),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "invalid JSON ("),
    ],
)
async def test_hostile_reports(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    body: bytes,
    expected: str,
) -> None:
    adapter.behaviour.report_body = body
    message = await failure(client, target, adapter.url)
    scan_id = next(iter(adapter.scans))
    assert message.startswith(f"report of scan {scan_id}: {expected}")


async def test_tolerated_report_oddities(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    """Go adapters write null for empty lists; v1.0-era reports lack fields; a bad
    timestamp is left out rather than failing the scan."""
    adapter.behaviour.report_body = json.dumps(
        {
            "generated_at": "yesterday",
            "artifact": None,
            "scanner": None,
            "severity": None,
            "vulnerabilities": [
                {
                    "id": "CVE-1",
                    "package": None,
                    "version": None,
                    "links": None,
                    "cwe_ids": None,
                    "vendor_attributes": None,
                    "preferred_cvss": None,
                    "severity": "Medium",
                    "unknown_field": {"x": 1},
                },
            ],
        }
    ).encode()
    report = await client.scan(target, adapter.url, REGISTRY_AUTH)
    assert report.generated_at is None
    assert report.scanner.name == "Trivy"  # from the metadata
    [f] = report.findings
    assert (f.id, f.package, f.installed_version, f.purl, f.severity.name) == (
        "CVE-1",
        "",
        "",
        "",
        "MEDIUM",
    )


async def test_a_credential_echoed_by_the_adapter_is_starred_out(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.fail = "report_500_echo"
    message = await failure(client, target, adapter.url)
    assert message.endswith(": failed (HTTP 500): registry refused Authorization: ***")
    assert "registry-token-for-the-scanner" not in message


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"error": "queue full"}', ": queue full"),
        (b'{"message": "queue full"}', ": queue full"),
        (b"upstream connect error\r\nreset", ": upstream connect error reset"),
        (b"", ""),
        (b"x" * 5000, ": " + "x" * 199 + "…"),
    ],
)
async def test_error_bodies_of_any_shape(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    body: bytes,
    detail: str,
) -> None:
    adapter.behaviour.scan_error_body = body
    assert await failure(client, target, adapter.url) == (
        f"scan request: failed (HTTP 500){detail}"
    )


async def test_a_scan_id_that_is_not_printable_is_refused(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.scan_id = "job\n7"
    assert await failure(client, target, adapter.url) == (
        "scan request: scan response: id: not printable"
    )


async def test_adapter_text_in_messages_stays_one_bounded_line(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.produces = tuple(f"text/x-{n}\n" for n in range(2000))
    message = await failure(client, target, adapter.url)
    assert message.startswith("metadata: does not produce a vulnerability report")
    assert len(message) <= 600 and message.endswith("…")
