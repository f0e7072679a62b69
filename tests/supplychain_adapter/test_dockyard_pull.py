"""Against a real Dockyard: the adapter pulls the image's manifest with the credential
Dockyard hands over: a pull token from Dockyard's token endpoint (what Harbor hands its
scanners), or Basic credentials."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dockyard.supplychain.adapter import AdapterError, ScannerAdapterClient, ScanTarget
from tests.spec.helpers import OCI_MANIFEST, push_image, unique_repo
from tests.supplychain_adapter.conftest import SleepLog, settings_for
from tests.support.scanner_adapter import ScannerAdapterServer, basic
from tests.support.server import RunningServer, run_server


@pytest.fixture(scope="module")
def dockyard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("dockyard") / "data", workers=1) as srv:
        yield srv


def http_token(dockyard: RunningServer, repo: str) -> str:
    """A pull-only registry token for `repo`, as docker would get one."""
    r = httpx.get(
        f"{dockyard.url}/auth/token",
        params={"service": "dockyard", "scope": f"repository:{repo}:pull"},
        auth=dockyard.admin,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def test_adapter_pulls_from_dockyard_with_the_handed_over_credential(
    dockyard: RunningServer, adapter: ScannerAdapterServer, sleeps: SleepLog
) -> None:
    repo = unique_repo("scanme")
    with dockyard.client() as http:
        digest, _ = push_image(http, repo, "v1")
    adapter.behaviour.findings[digest] = [
        {"id": "CVE-2024-6119", "package": "libssl3", "version": "3.0.13-1", "severity": "Critical"}
    ]
    target = ScanTarget(repo, digest, OCI_MANIFEST, "v1")
    async with ScannerAdapterClient(settings_for(adapter.url), sleep=sleeps) as client:
        report = await client.scan(target, dockyard.url, basic(*dockyard.admin))
        assert [(f.id, f.severity.name) for f in report.findings] == [("CVE-2024-6119", "CRITICAL")]
        [scan] = adapter.scans.values()
        assert scan.pull_status == 200

        token = http_token(dockyard, repo)
        again = await client.scan(target, dockyard.url, f"Bearer {token}")
        assert again.findings == report.findings
        assert adapter.scans[again.scan_id].pull_status == 200

        elsewhere = http_token(dockyard, unique_repo("other"))  # a token for another repository
        with pytest.raises(AdapterError, match=r"HTTP 500\): pulling .*: HTTP 40[13]$"):
            await client.scan(target, dockyard.url, f"Bearer {elsewhere}")

        with pytest.raises(AdapterError) as err:
            await client.scan(target, dockyard.url, basic("admin", "not-the-password"))
    failed = list(adapter.scans.values())[-1]
    assert failed.pull_status == 401
    assert str(err.value) == (
        f"scanner adapter 'trivy': report of scan {failed.id}: failed (HTTP 500): pulling "
        f"{dockyard.url}/v2/{repo}/manifests/{digest}: HTTP 401"
    )
