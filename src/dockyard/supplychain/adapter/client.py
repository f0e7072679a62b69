"""ScannerAdapterClient: Dockyard's side of Harbor's Pluggable Scanner Adapter API.

metadata() reads and validates GET /api/v1/metadata; scan() submits POST /api/v1/scan
and polls GET /api/v1/scan/{id}/report, which answers 302 with Refresh-After (seconds)
while the adapter works and 200 with the report when it is done. Waiting out
Refresh-After with asyncio.sleep is the protocol itself; the bounds and the sleep are
injectable so tests need not wait. Redirects are never followed (the 302 is a status,
not a redirect), as in Harbor's own client.

Written over httpx by hand: no maintained Python client of this API exists (Harbor's
own is Go, in goharbor/harbor src/pkg/scan/rest/v1).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from dockyard.supplychain.adapter import wire
from dockyard.supplychain.adapter.values import (
    AdapterError,
    AdapterHealth,
    AdapterMetadata,
    AdapterReport,
    ScanTarget,
)
from dockyard.supplychain.model import Severity
from dockyard.supplychain.settings import AdapterSettings

MAX_RESPONSE_BYTES = 64 << 20

Sleep = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PollTiming:
    """How long to wait between report polls: the adapter's Refresh-After, within bounds."""

    minimum: float = 0.2
    maximum: float = 30.0
    default: float = 5.0
    """without a usable Refresh-After (Trivy's adapter sends none): Harbor's default"""

    def interval(self, refresh_after: str | None) -> float:
        seconds = self.default
        if refresh_after is not None:
            try:
                value = float(refresh_after.strip())
            except ValueError:
                value = math.nan
            if math.isfinite(value) and value >= 0:
                seconds = value
        return min(max(seconds, self.minimum), self.maximum)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


class ScannerAdapterClient:
    """One adapter's client; use `async with` (or call aclose())."""

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        poll: PollTiming | None = None,
        sleep: Sleep = asyncio.sleep,
        request_timeout: float = 30.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._poll = poll or PollTiming()
        self._sleep = sleep
        self._max_bytes = max_response_bytes
        self._base = _base_url(str(settings.url))
        headers = {"User-Agent": "dockyard-scanner-adapter-client"}
        if settings.authorization:
            headers["Authorization"] = settings.authorization
        self._http = httpx.AsyncClient(
            verify=settings.verify_tls,
            timeout=httpx.Timeout(min(request_timeout, settings.timeout_seconds)),
            follow_redirects=False,
            headers=headers,
            trust_env=False,
        )
        self._metadata: AdapterMetadata | None = None
        self._metadata_lock = asyncio.Lock()

    async def __aenter__(self) -> ScannerAdapterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _error(self, message: str) -> AdapterError:
        """One line, bounded: parts of `message` may come from the adapter."""
        return AdapterError(self.name, wire.one_line(message, 600))

    async def metadata(self, *, refresh: bool = False) -> AdapterMetadata:
        """The adapter's metadata (kept after the first read unless `refresh`)."""
        held = self._metadata
        async with self._metadata_lock:  # concurrent first scans read it once
            if self._metadata is not None and not (refresh and self._metadata is held):
                return self._metadata
            what = "metadata"
            accept = f"{wire.METADATA_V11}, {wire.METADATA_V10}"
            answer = await self._request(what, "GET", "/metadata", {"Accept": accept})
            if answer.status != 200:
                raise self._status_error(what, answer)
            self._metadata = self._parse(what, answer, wire.read_metadata)
            return self._metadata

    async def health(self) -> AdapterHealth:
        """Probe the adapter by reading its metadata afresh; never raises AdapterError."""
        try:
            meta = await self.metadata(refresh=True)
        except AdapterError as exc:
            return AdapterHealth(self.name, False, exc.reason)
        scanner = meta.scanner
        message = f"{scanner.name} {scanner.version} ({scanner.vendor}), API {meta.api_version}"
        return AdapterHealth(self.name, True, message.strip(), meta)

    async def scan(
        self,
        artifact: ScanTarget,
        registry_url: str | None = None,
        registry_authorization: str | None = None,
    ) -> AdapterReport:
        """Have the adapter scan `artifact`, pulling it from `registry_url` (default: the
        settings' registry_url) with `registry_authorization` as its Authorization header;
        the whole exchange is bounded by the settings' timeout_seconds."""
        url = registry_url or (
            str(self.settings.registry_url) if self.settings.registry_url else None
        )
        if not url:
            raise self._error("no registry URL to hand the adapter")
        limit = self.settings.timeout_seconds
        started = time.monotonic()
        polls = [0]
        try:
            async with asyncio.timeout(limit):
                meta = await self.metadata()
                if not meta.consumes(artifact.mime_type):
                    raise self._error(f"does not scan artifacts of type {artifact.mime_type}")
                scan_id = await self._submit(
                    artifact, meta, url.rstrip("/"), registry_authorization
                )
                report = await self._await_report(scan_id, meta, polls, registry_authorization)
        except TimeoutError:
            raise self._error(
                f"scan of {artifact.digest} timed out after {time.monotonic() - started:.1f} s "
                f"(limit {limit:g} s, {polls[0]} report polls)"
            ) from None
        return self._report(artifact, scan_id, meta, report, polls[0])

    async def _submit(
        self, artifact: ScanTarget, meta: AdapterMetadata, url: str, auth: str | None
    ) -> str:
        what = "scan request"
        content_type, body = wire.scan_request(
            artifact.repository,
            artifact.digest,
            artifact.tag,
            artifact.mime_type,
            url,
            auth,
            meta,
        )
        headers = {"Content-Type": content_type, "Accept": wire.SCAN_RESPONSE}
        answer = await self._request(
            what, "POST", "/scan", headers, json.dumps(body).encode("utf-8")
        )
        if answer.status != 202:
            raise self._status_error(what, answer, (auth,))
        return self._parse(what, answer, wire.read_scan_id)

    async def _await_report(
        self, scan_id: str, meta: AdapterMetadata, polls: list[int], auth: str | None
    ) -> wire.WireReport:
        what = f"report of scan {scan_id}"
        path = f"/scan/{quote(scan_id, safe='')}/report"
        headers = {"Accept": meta.report_mime_type}
        while True:
            answer = await self._request(what, "GET", path, headers)
            polls[0] += 1
            if answer.status == 200:
                return self._parse(what, answer, wire.read_report)
            if answer.status != 302:
                raise self._status_error(what, answer, (auth,))
            await self._sleep(self._poll.interval(answer.headers.get("Refresh-After")))

    def _report(
        self,
        artifact: ScanTarget,
        scan_id: str,
        meta: AdapterMetadata,
        report: wire.WireReport,
        polls: int,
    ) -> AdapterReport:
        got = report.artifact.digest if report.artifact else None
        if got and got != artifact.digest:
            raise self._error(f"report of scan {scan_id} is for {got}, not {artifact.digest}")
        findings = tuple(wire.finding(item, self.name) for item in report.vulnerabilities)
        severity = max(
            [Severity.parse(report.severity), *(f.severity for f in findings)],
            default=Severity.UNKNOWN,
        )
        scanner = report.scanner.info() if report.scanner and report.scanner.name else None
        return AdapterReport(
            adapter=self.name,
            scan_id=scan_id,
            digest=artifact.digest,
            scanner=scanner or meta.scanner,
            generated_at=report.generated_at,
            severity=severity,
            findings=findings,
            polls=polls,
        )

    def _parse(self, what: str, answer: _Answer, read: Callable[[Any], _T]) -> _T:
        try:
            return read(wire.load_json(answer.body))
        except wire.WireError as exc:
            raise self._error(f"{what}: {exc}") from None

    def _status_error(
        self, what: str, answer: _Answer, secrets: tuple[str | None, ...] = ()
    ) -> AdapterError:
        status = answer.status
        detail = wire.error_message(answer.body) if answer.body else ""
        detail = _redact(detail, (self.settings.authorization, *secrets))
        if status in (401, 403):
            reason = "the adapter refused Dockyard's credentials"
        elif status == 404 and what.startswith("report"):
            reason = "the adapter does not know this scan"
        elif 300 <= status < 400:
            reason = "unexpected redirect"
        else:
            reason = "failed"
        suffix = f": {detail}" if detail else ""
        return self._error(f"{what}: {reason} (HTTP {status}){suffix}")

    async def _request(
        self,
        what: str,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> _Answer:
        url = f"{self._base}{path}"
        try:
            async with self._http.stream(method, url, headers=headers, content=content) as resp:
                declared = resp.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self._max_bytes:
                    raise self._oversized(what)
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise self._oversized(what)
                return _Answer(resp.status_code, resp.headers, bytes(body))
        except httpx.TimeoutException:
            raise self._error(f"{what}: no answer from {self._base} in time") from None
        except httpx.ConnectError as exc:
            raise self._error(f"{what}: cannot connect to {self._base} ({_reason(exc)})") from None
        except httpx.HTTPError as exc:
            raise self._error(
                f"{what}: {type(exc).__name__} talking to {self._base} ({_reason(exc)})"
            ) from None

    def _oversized(self, what: str) -> AdapterError:
        return self._error(f"{what}: response larger than {self._max_bytes} bytes")


def _base_url(url: str) -> str:
    """The API root under the adapter's URL (which may name it already), without any
    user:password in it."""
    parsed = httpx.URL(url)
    root = str(parsed.copy_with(username=None, password=None, query=None, fragment=None))
    root = root.rstrip("/")
    return root if root.endswith("/api/v1") else root + "/api/v1"


def _redact(text: str, secrets: tuple[str | None, ...]) -> str:
    """`text` with each credential (the whole header value, and its token alone) starred
    out, in case an adapter echoes one in an error message."""
    for secret in secrets:
        if not secret:
            continue
        for part in (secret, secret.partition(" ")[2]):
            if len(part) >= 4:
                text = text.replace(part, "***")
    return text


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]
