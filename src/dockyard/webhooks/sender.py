"""One post to a receiver, with httpx: a timeout, no redirects followed (a 3xx is a
failed attempt, so a post never lands on another host), the answer read up to a cap,
success on 2xx. What went wrong is said with credentials redacted."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from dockyard import __version__
from dockyard.webhooks import payloads
from dockyard.webhooks.redact import redact_text, redact_url, url_secrets
from dockyard.webhooks.settings import WebhookSettings
from dockyard.webhooks.store import Outcome

log = logging.getLogger(__name__)
USER_AGENT = f"Dockyard-Webhook/{__version__}"
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A policy opened for sending (its secrets unsealed, never shown)."""

    policy_id: int
    format: str
    url: str
    auth_header: str | None
    secret: str
    skip_tls_verify: bool

    @property
    def secrets(self) -> list[str]:
        found = [*url_secrets(self.url), self.secret]
        if self.auth_header:
            found.append(self.auth_header)
            found += self.auth_header.split()[1:]  # the credential after "Bearer"/"Basic"
        return found

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets)


class RedactUrls(logging.Filter):
    """httpx logs each request's URL ("HTTP Request: POST https://…?token=…"): mask
    the credentials in it, as everywhere else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_text(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args
            )
        return True


def _redact_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in logger.filters):
        logger.addFilter(RedactUrls())


def client_for(endpoint: Endpoint, settings: WebhookSettings) -> httpx.AsyncClient:
    _redact_httpx_log()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_seconds),
        follow_redirects=False,
        verify=not endpoint.skip_tls_verify,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


def headers_for(
    endpoint: Endpoint, body: bytes, content_type: str, delivery_id: int, kind: str
) -> dict[str, str]:
    timestamp = int(time.time())
    headers = {
        "Content-Type": content_type,
        payloads.TIMESTAMP_HEADER: str(timestamp),
        payloads.SIGNATURE_HEADER: payloads.signature(endpoint.secret, timestamp, body),
        payloads.DELIVERY_HEADER: str(delivery_id),
        payloads.EVENT_HEADER: kind,
    }
    if endpoint.auth_header:
        headers["Authorization"] = endpoint.auth_header
    return headers


async def refused_address(url: httpx.URL, settings: WebhookSettings) -> str | None:
    """Why the endpoint may not be posted to, or None: it resolves to an address in
    `webhooks.blocked_networks`. (A name that resolves differently at connect time
    could slip past; the check stops the plain case of aiming at loopback or a cloud
    metadata address.)"""
    if not settings.blocked_networks or not url.host:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, port)
    except OSError as exc:
        return f"cannot resolve {url.host}: {exc.strerror or exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        for net in settings.blocked_networks:
            if address.version == net.version and address in net:
                return (
                    f"{url.host} resolves to {address}, in {net}, which webhooks may not "
                    "reach (webhooks.blocked_networks)"
                )
    return None


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    out = bytearray()
    async for chunk in response.aiter_bytes():
        out += chunk[: max(0, cap - len(out))]
        if len(out) >= cap:
            break
    return bytes(out)


async def post(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    events: Sequence[Mapping[str, Any]],
    *,
    delivery_id: int,
    event_id: str,
    host: str,
    settings: WebhookSettings,
) -> Outcome:
    """Post `events` (one, or coalesced pulls) once; what happened."""
    body, content_type = payloads.render(endpoint.format, host, events, event_id)
    kind = str(events[0]["kind"])
    headers = headers_for(endpoint, body, content_type, delivery_id, kind)
    shown = redact_url(endpoint.url)
    url = httpx.URL(endpoint.url)
    if endpoint.auth_header and url.userinfo:  # the auth header wins over user:password@
        url = url.copy_with(userinfo=b"")
    refused = await refused_address(url, settings)
    if refused is not None:
        log.info("webhook %d: not posted to %s: %s", endpoint.policy_id, shown, refused)
        return Outcome(None, refused)
    try:
        # httpx's timeout is per phase; this bounds the whole post (a dripping answer too)
        async with asyncio.timeout(settings.timeout_seconds):
            async with client.stream("POST", url, content=body, headers=headers) as r:
                answer = await _read_capped(r, settings.max_response_bytes)
                status = r.status_code
                location = r.headers.get("location", "")
    except TimeoutError:
        error = f"no answer within {settings.timeout_seconds:g}s"
        log.info("webhook %d: post to %s failed: %s", endpoint.policy_id, shown, error)
        return Outcome(None, error)
    except httpx.HTTPError as exc:
        error = endpoint.redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        log.info("webhook %d: post to %s failed: %s", endpoint.policy_id, shown, error)
        return Outcome(None, error[:MAX_ERROR])
    if 200 <= status < 300:
        log.debug("webhook %d: delivered %s to %s", endpoint.policy_id, kind, shown)
        return Outcome(status, None)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed (to {location[:200]})"
    else:
        text = answer[:200].decode("utf-8", "replace").strip()
        error = f"HTTP {status}" + (f": {text}" if text else "")
    error = endpoint.redact(error)[:MAX_ERROR]
    log.info("webhook %d: post to %s answered %s", endpoint.policy_id, shown, error)
    return Outcome(status, error)
