"""scan(): the request exactly as the spec shapes it, polling on Refresh-After, the report
read into Findings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard.supplychain.adapter import PollTiming, ScannerAdapterClient, ScanTarget
from dockyard.supplychain.model import Finding, Severity
from tests.supplychain_adapter.conftest import (
    ADAPTER_AUTH,
    REGISTRY_AUTH,
    MakeClient,
    SleepLog,
)
from tests.support.scanner_adapter import REPORT_V11, ScannerAdapterServer


def item(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "CVE-2024-0001",
        "package": "openssl",
        "version": "3.0.11-1~deb12u2",
        "severity": "High",
        "description": "a flaw",
        "links": ["https://avd.aquasec.com/nvd/cve-2024-0001"],
    }
    base.update(kw)
    return base


async def scan(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> Any:
    return await client.scan(target, adapter.url, REGISTRY_AUTH)


async def test_round_trip_polls_on_refresh_after_and_reads_findings(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    sleeps: SleepLog,
) -> None:
    adapter.behaviour.pending_polls = 2
    adapter.behaviour.refresh_after = "3"
    adapter.behaviour.findings[target.digest] = [
        item(
            fix_version="3.0.13-1~deb12u1",
            preferred_cvss={
                "score_v3": 7.5,
                "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                "score_v2": 5.0,
                "vector_v2": "AV:N/AC:L/Au:N/C:N/I:N/A:P",
            },
            cwe_ids=["CWE-476"],
            vendor_attributes={"CVSS": {"nvd": {"V3Score": 7.5}}},
        ),
        item(
            id="CVE-2023-9999",
            package="zlib1g",
            version="1:1.2.13.dfsg-1",
            severity="Low",
            fix_version=None,
            links=None,
            description=None,
        ),
    ]
    report = await scan(adapter, client, target)

    assert report.adapter == "trivy"
    assert report.digest == target.digest
    assert report.scanner.name == "Trivy"
    assert report.generated_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert report.severity is Severity.HIGH
    assert report.polls == 3
    assert sleeps.intervals == [3.0, 3.0]
    assert report.findings == (
        Finding(
            id="CVE-2024-0001",
            package="openssl",
            installed_version="3.0.11-1~deb12u2",
            ecosystem="adapter:trivy",
            purl="pkg:generic/openssl@3.0.11-1~deb12u2",
            severity=Severity.HIGH,
            fixed_versions=("3.0.13-1~deb12u1",),
            cvss_score=7.5,
            cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
            summary="a flaw",
            references=("https://avd.aquasec.com/nvd/cve-2024-0001",),
        ),
        Finding(
            id="CVE-2023-9999",
            package="zlib1g",
            installed_version="1:1.2.13.dfsg-1",
            ecosystem="adapter:trivy",
            purl="pkg:generic/zlib1g@1:1.2.13.dfsg-1",
            severity=Severity.LOW,
        ),
    )
    # the adapter really pulled the manifest with the credential Dockyard handed over
    [pull] = adapter.seen("GET", f"/v2/{target.repository}/manifests/")
    assert pull.headers["authorization"] == REGISTRY_AUTH
    assert pull.headers["accept"] == (
        "application/vnd.oci.image.manifest.v1+json, "
        "application/vnd.docker.distribution.manifest.v2+json"
    )
    [scan_id] = adapter.scans
    assert adapter.scans[scan_id].pull_status == 200
    assert report.scan_id == scan_id


async def test_scan_request_is_exactly_the_spec_shape_v12(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    await scan(adapter, client, target)
    [post] = adapter.seen("POST", "/api/v1/scan")
    assert post.headers["content-type"] == (
        "application/vnd.scanner.adapter.scan.request+json; version=1.1"
    )
    assert post.headers["accept"] == (
        "application/vnd.scanner.adapter.scan.response+json; version=1.0"
    )
    assert post.headers["authorization"] == ADAPTER_AUTH
    assert post.json() == {
        "registry": {"url": adapter.url, "authorization": REGISTRY_AUTH},
        "artifact": {
            "repository": "team/app",
            "digest": target.digest,
            "mime_type": "application/vnd.oci.image.manifest.v1+json",
            "tag": "1.0",
        },
        "enabled_capabilities": [{"type": "vulnerability", "produces_mime_types": [REPORT_V11]}],
    }
    polls = adapter.seen("GET", "/api/v1/scan/")
    assert [p.path for p in polls] == [f"/api/v1/scan/{next(iter(adapter.scans))}/report"] * 3
    assert {p.headers["accept"] for p in polls} == {REPORT_V11}
    assert {p.headers["authorization"] for p in polls} == {ADAPTER_AUTH}


async def test_scan_request_to_a_v11_adapter_has_no_enabled_capabilities(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.api_version = "1.1"
    adapter.registry.authorization = None  # an anonymous pull
    untagged = ScanTarget(target.repository, target.digest, target.mime_type)
    await client.scan(untagged, adapter.url + "/", None)
    [post] = adapter.seen("POST", "/api/v1/scan")
    assert post.headers["content-type"] == (
        "application/vnd.scanner.adapter.scan.request+json; version=1.0"
    )
    assert post.json() == {
        "registry": {"url": adapter.url},
        "artifact": {
            "repository": "team/app",
            "digest": target.digest,
            "mime_type": "application/vnd.oci.image.manifest.v1+json",
        },
    }


async def test_registry_url_defaults_to_the_settings(
    adapter: ScannerAdapterServer, make_client: MakeClient, target: ScanTarget
) -> None:
    client = make_client(registry_url=adapter.url)
    report = await client.scan(target, registry_authorization=REGISTRY_AUTH)
    assert report.findings == ()
    [post] = adapter.seen("POST", "/api/v1/scan")
    assert post.json()["registry"]["url"] == adapter.url


async def test_no_wait_when_the_report_is_ready_at_once(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    sleeps: SleepLog,
) -> None:
    adapter.behaviour.pending_polls = 0
    report = await scan(adapter, client, target)
    assert (report.polls, sleeps.intervals, report.severity) == (1, [], Severity.UNKNOWN)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0", 0.2), ("7", 7.0), ("120", 30.0), (None, 5.0), ("soon", 5.0), ("-3", 5.0)],
)
async def test_refresh_after_is_honoured_within_bounds(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    sleeps: SleepLog,
    header: str | None,
    expected: float,
) -> None:
    adapter.behaviour.pending_polls = 1
    adapter.behaviour.refresh_after = header
    await scan(adapter, client, target)
    assert sleeps.intervals == [expected]


async def test_poll_bounds_are_injectable(
    adapter: ScannerAdapterServer, make_client: MakeClient, target: ScanTarget, sleeps: SleepLog
) -> None:
    client = make_client(poll=PollTiming(minimum=0.01, maximum=2.0, default=0.5))
    adapter.behaviour.pending_polls = 3
    for header in ("0", "9", None):
        adapter.behaviour.refresh_after = header
        adapter.scans.clear()
        sleeps.intervals.clear()
        await scan(adapter, client, target)
        assert sleeps.intervals == [{"0": 0.01, "9": 2.0, None: 0.5}[header]] * 3


@pytest.mark.parametrize(
    ("given", "cvss", "expected"),
    [
        ("Unknown", None, Severity.UNKNOWN),
        ("Negligible", None, Severity.LOW),
        ("Low", None, Severity.LOW),
        ("Medium", None, Severity.MEDIUM),
        ("High", None, Severity.HIGH),
        ("Critical", None, Severity.CRITICAL),
        ("Unknown", 9.8, Severity.CRITICAL),  # no rating of its own: the CVSS score's
        (None, 5.3, Severity.MEDIUM),
        ("Low", 9.8, Severity.LOW),  # the scanner's rating stands when it gives one
        ("Bogus", None, Severity.UNKNOWN),
    ],
)
async def test_severity_mapping(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    given: str | None,
    cvss: float | None,
    expected: Severity,
) -> None:
    vuln = item(severity=given)
    if cvss is not None:
        vuln["preferred_cvss"] = {"score_v3": cvss}
    adapter.behaviour.findings[target.digest] = [vuln]
    report = await scan(adapter, client, target)
    assert [f.severity for f in report.findings] == [expected]
    assert report.severity is expected


@pytest.mark.parametrize(
    ("fix", "expected"),
    [
        ("1.2.4", ("1.2.4",)),
        ("2.4.1, 2.5.0", ("2.4.1", "2.5.0")),  # Trivy joins several fixed versions
        ("", ()),
        (None, ()),
        (" 1.0 ,1.0, ", ("1.0",)),
    ],
)
async def test_fix_versions(
    adapter: ScannerAdapterServer,
    client: ScannerAdapterClient,
    target: ScanTarget,
    fix: str | None,
    expected: tuple[str, ...],
) -> None:
    adapter.behaviour.findings[target.digest] = [item(fix_version=fix)]
    report = await scan(adapter, client, target)
    assert report.findings[0].fixed_versions == expected


async def test_package_type_and_purl_where_the_report_gives_them(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.findings[target.digest] = [
        item(package="requests", version="2.31.0", vendor_attributes={"package_type": "pypi"}),
        item(
            package="lodash",
            version="4.17.20",
            vendor_attributes=[{"key": "purl", "value": "pkg:npm/lodash@4.17.20"}],  # v1.1 form
        ),
        item(package="@scope/x", version="1.0.0", vendor_attributes={"purl": "not a purl"}),
        item(package="", version=""),
        item(package="bad", version="1", vendor_attributes={"package_type": "no such!type"}),
    ]
    report = await scan(adapter, client, target)
    assert [(f.ecosystem, f.purl) for f in report.findings] == [
        ("pypi", "pkg:pypi/requests@2.31.0"),
        ("adapter:trivy", "pkg:npm/lodash@4.17.20"),
        ("adapter:trivy", "pkg:generic/%40scope/x@1.0.0"),
        ("adapter:trivy", ""),
        ("adapter:trivy", "pkg:generic/bad@1"),
    ]


async def test_cvss_v2_when_there_is_no_v3(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.findings[target.digest] = [
        item(preferred_cvss={"score_v2": 4.3, "vector_v2": "AV:N/AC:M/Au:N/C:N/I:P/A:N"}),
        item(preferred_cvss={"score_v3": 11.0, "vector_v3": "CVSS:3.1/AV:N"}),
    ]
    report = await scan(adapter, client, target)
    assert [(f.cvss_score, f.cvss_vector) for f in report.findings] == [
        (4.3, "AV:N/AC:M/Au:N/C:N/I:P/A:N"),
        (None, "CVSS:3.1/AV:N"),
    ]


async def test_scan_id_is_one_path_segment_whatever_it_holds(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient, target: ScanTarget
) -> None:
    adapter.behaviour.scan_id = "job/7 ?#%"
    adapter.behaviour.pending_polls = 0
    report = await scan(adapter, client, target)
    assert report.scan_id == "job/7 ?#%"
    [poll] = adapter.seen("GET", "/api/v1/scan/")
    assert poll.path == "/api/v1/scan/job%2F7%20%3F%23%25/report"


async def test_concurrent_scans_through_one_client(
    adapter: ScannerAdapterServer, client: ScannerAdapterClient
) -> None:
    targets = []
    for n in range(4):
        manifest = b'{"schemaVersion": 2, "n": %d}' % n
        digest = adapter.registry.add("team/app", manifest)
        adapter.behaviour.findings[digest] = [item(id=f"CVE-2024-000{n}")]
        targets.append(ScanTarget("team/app", digest, "application/vnd.oci.image.manifest.v1+json"))
    reports = await asyncio.gather(*(scan(adapter, client, t) for t in targets))
    assert [(r.digest, [f.id for f in r.findings]) for r in reports] == [
        (t.digest, [f"CVE-2024-000{n}"]) for n, t in enumerate(targets)
    ]
    assert len(adapter.seen("GET", "/api/v1/metadata")) == 1
