"""Webhooks, the domain service: who may manage a project's policies (its
administrators), what a policy may say (http/https endpoints, known event kinds, a
format), sealing its secrets, the delivery log, the test event, and the two halves of
delivery the jobs run: recording deliveries for events, and sending one lane.

Built per use from the Services (it holds no state of its own beyond them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets as pysecrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dockyard import errors as e
from dockyard import events as ev
from dockyard.accounts.guard import Actor
from dockyard.auth import permissions as perm
from dockyard.errors import Conflict, DockyardError, NotFound
from dockyard.jobs import PermanentFailure
from dockyard.webhooks import payloads
from dockyard.webhooks.capability import DELIVER
from dockyard.webhooks.redact import redact_text, redact_url
from dockyard.webhooks.seal import Sealer
from dockyard.webhooks.sender import Endpoint, client_for, post
from dockyard.webhooks.settings import WebhookSettings
from dockyard.webhooks.store import (
    DeliveryRow,
    NewDelivery,
    PolicyRow,
    WebhookStore,
    engines_of,
)

if TYPE_CHECKING:
    from dockyard.context import Services

log = logging.getLogger(__name__)

MANAGE = perm.UPDATE_PROJECT  # project_admin (and system administrators)
MAX_URL = 2048
UNCHANGED: Any = object()


class InvalidWebhook(DockyardError):
    error = e.INVALID_REQUEST


@dataclass(frozen=True, slots=True)
class NewPolicy:
    name: str
    url: str
    event_kinds: Sequence[str]
    format: str = "harbor"
    description: str = ""
    enabled: bool = True
    skip_tls_verify: bool = False
    auth_header: str | None = None
    secret: str | None = None
    """the HMAC key; generated when not given (and returned once)"""


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    name: str | None = None
    url: str | None = None
    event_kinds: Sequence[str] | None = None
    format: str | None = None
    description: str | None = None
    enabled: bool | None = None
    skip_tls_verify: bool | None = None
    auth_header: str | None = UNCHANGED
    """None removes it"""
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class TestResult:
    delivery: DeliveryRow
    seconds: float


@dataclass(frozen=True, slots=True)
class LaneResult:
    sent: int = 0
    """posts made"""
    retry_at: dt.datetime | None = None
    """when the lane's head is next due (a retry), if it waits"""
    retry_key: str | None = None
    events: list[int] = field(default_factory=list)


URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://([^\x00-\x20\x7f/?#@]+@)?"
    r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    r"([/?#][^\x00-\x20\x7f]*)?$"
)
"""what an endpoint URL looks like (the API's schema says so; check_url says why not)"""
AUTH_HEADER_PATTERN = r"^[\x20-\x7e]+$"


def check_url(url: str) -> str:
    if len(url) > MAX_URL:
        raise InvalidWebhook(f"the endpoint URL is longer than {MAX_URL} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise InvalidWebhook("the endpoint URL has spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidWebhook(f"the endpoint URL is not valid: {redact_text(str(exc))}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidWebhook(
            f"the endpoint URL must be http:// or https://, not {parts.scheme[:20]!r}"
        )
    if not parts.hostname:
        raise InvalidWebhook("the endpoint URL has no host")
    if not re.match(URL_PATTERN, url):
        raise InvalidWebhook(
            "the endpoint URL should be http(s)://[user:password@]host[:port][/path][?query] "
            "with a host name (or IPv4 address) of letters, digits, dots and dashes"
        )
    return url


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(kinds) - ev.ALL_KINDS)
    if unknown:
        raise InvalidWebhook(
            f"unknown event kind {unknown[0][:64]!r}: one of {', '.join(sorted(ev.ALL_KINDS))}"
        )
    if not kinds:
        raise InvalidWebhook("a webhook needs at least one event kind")
    return tuple(sorted(set(kinds)))


def check_format(fmt: str) -> str:
    if fmt not in payloads.FORMATS:
        raise InvalidWebhook(f"unknown format {fmt[:32]!r}: one of {', '.join(payloads.FORMATS)}")
    return fmt


def check_auth_header(value: str) -> str:
    if not 0 < len(value) <= 4096 or not re.match(AUTH_HEADER_PATTERN, value):
        raise InvalidWebhook("the auth header must be 1 to 4096 printable ASCII characters")
    return value


def lane_key(policy_id: int, lane: str) -> str:
    """The job de-duplication key of one lane (lanes may be 255 characters: hashed)."""
    return f"{DELIVER}:{policy_id}:{hashlib.sha256(lane.encode()).hexdigest()[:24]}"


def settings_of(services: Services) -> WebhookSettings:
    found = getattr(services.settings, "webhooks", None)
    return found if isinstance(found, WebhookSettings) else WebhookSettings()


def registry_host(services: Services, settings: WebhookSettings) -> str:
    if settings.registry_host:
        return settings.registry_host
    public = services.settings.server.public_url
    return urlsplit(public).netloc if public else ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.store = WebhookStore(engines_of(services.store))
        self.settings = settings_of(services)
        self._sealer: Sealer | None = None

    async def _seal(self) -> Sealer:
        if self._sealer is None:
            key = self.settings.seal_key
            self._sealer = await Sealer.from_secrets(
                self._services.identity.secrets, None if key is None else key.get_secret_value()
            )
        return self._sealer

    async def endpoint(self, policy: PolicyRow) -> Endpoint:
        sealer = await self._seal()
        auth = policy.auth_header_sealed
        return Endpoint(
            policy_id=policy.id,
            format=policy.format,
            url=sealer.open(policy.url_sealed),
            auth_header=None if auth is None else sealer.open(auth),
            secret=sealer.open(policy.secret_sealed),
            skip_tls_verify=policy.skip_tls_verify,
        )

    # -- management ---------------------------------------------------------------

    async def _policy(self, actor: Actor, project: str, policy_id: int) -> PolicyRow:
        await self._services.guard.project(actor, project, MANAGE)
        policy = await self.store.get_policy(policy_id, project)
        if policy is None:
            raise NotFound(f"webhook {policy_id} not found in {project!r}")
        return policy

    async def list_policies(self, actor: Actor, project: str) -> list[PolicyRow]:
        await self._services.guard.project(actor, project, MANAGE)
        return await self.store.list_policies(project)

    async def get(self, actor: Actor, project: str, policy_id: int) -> PolicyRow:
        return await self._policy(actor, project, policy_id)

    async def create(self, actor: Actor, project: str, new: NewPolicy) -> tuple[PolicyRow, str]:
        """The policy and its signing secret (shown this once)."""
        record = await self._services.guard.project(actor, project, MANAGE)
        url = check_url(new.url)
        secret = new.secret or pysecrets.token_urlsafe(32)
        sealer = await self._seal()
        values = {
            "name": new.name,
            "description": new.description,
            "enabled": new.enabled,
            "event_kinds": check_kinds(new.event_kinds),
            "format": check_format(new.format),
            "url_redacted": redact_url(url),
            "url_sealed": sealer.seal(url),
            "auth_header_sealed": (
                None if new.auth_header is None else sealer.seal(check_auth_header(new.auth_header))
            ),
            "secret_sealed": sealer.seal(secret),
            "skip_tls_verify": new.skip_tls_verify,
            "created_by": actor.name,
        }
        policy_id = await self.store.create_policy(record.id, values)
        policy = await self.store.get_policy(policy_id)
        assert policy is not None
        await self._audit(actor, "webhook.create", policy)
        return policy, secret

    async def update(
        self, actor: Actor, project: str, policy_id: int, changes: PolicyChanges
    ) -> PolicyRow:
        policy = await self._policy(actor, project, policy_id)
        sealer = await self._seal()
        values: dict[str, Any] = {}
        for name in ("name", "description", "enabled", "skip_tls_verify"):
            if getattr(changes, name) is not None:
                values[name] = getattr(changes, name)
        if changes.event_kinds is not None:
            values["event_kinds"] = check_kinds(changes.event_kinds)
        if changes.format is not None:
            values["format"] = check_format(changes.format)
        if changes.url is not None:
            url = check_url(changes.url)
            values["url_redacted"], values["url_sealed"] = redact_url(url), sealer.seal(url)
        if changes.auth_header is not UNCHANGED:
            header = changes.auth_header
            values["auth_header_sealed"] = (
                None if header is None else sealer.seal(check_auth_header(header))
            )
        if changes.secret is not None:
            values["secret_sealed"] = sealer.seal(changes.secret)
        if not values:
            return policy
        await self.store.update_policy(policy.id, values)
        updated = await self.store.get_policy(policy.id)
        if updated is None:
            raise NotFound(f"webhook {policy_id} not found in {project!r}")
        await self._audit(actor, "webhook.update", updated, changed=sorted(values))
        if updated.enabled and not policy.enabled:
            await self.wake(updated.id, await self.store.open_lanes(updated.id))
        return updated

    async def delete(self, actor: Actor, project: str, policy_id: int) -> None:
        policy = await self._policy(actor, project, policy_id)
        if not await self.store.delete_policy(policy.id):
            raise NotFound(f"webhook {policy_id} not found in {project!r}")
        await self._audit(actor, "webhook.delete", policy)

    async def deliveries(
        self,
        actor: Actor,
        project: str,
        policy_id: int,
        offset: int,
        limit: int,
        *,
        state: str | None = None,
        oldest_first: bool = False,
    ) -> tuple[list[DeliveryRow], int]:
        policy = await self._policy(actor, project, policy_id)
        return await self.store.list_deliveries(
            policy.id, offset, limit, state=state, oldest_first=oldest_first
        )

    async def test(self, actor: Actor, project: str, policy_id: int) -> TestResult:
        """Post a synthetic artifact.pushed now, once; it is kept in the delivery log."""
        policy = await self._policy(actor, project, policy_id)
        try:
            endpoint = await self.endpoint(policy)
        except PermanentFailure as exc:
            raise Conflict(str(exc)) from None
        event = {
            "id": 0,
            "seq": 0,
            "kind": ev.PUSHED,
            "at": _now().isoformat(),
            "repository": f"{project}/webhook-test",
            "project": project,
            "project_public": policy.project_public,
            "digest": "sha256:" + "0" * 64,
            "tag": "test",
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "actor": actor.name,
            "detail": {"test": True},
        }
        started = _now()
        async with client_for(endpoint, self.settings) as client:
            outcome = await post(
                client,
                endpoint,
                [event],
                delivery_id=0,
                event_id=f"test-{pysecrets.token_hex(8)}",
                host=registry_host(self._services, self.settings),
                settings=self.settings,
            )
        seconds = (_now() - started).total_seconds()
        return TestResult(await self.store.record_test(policy.id, event, outcome), seconds)

    async def _audit(self, actor: Actor, action: str, policy: PolicyRow, **extra: Any) -> None:
        detail = {
            "name": policy.name,
            "url": policy.url_redacted,
            "event_kinds": list(policy.event_kinds),
            "enabled": policy.enabled,
            **extra,
        }
        resource = f"{policy.project}/webhooks/{policy.id}"
        await self._services.guard.record(
            actor, action, resource, project=policy.project, detail=detail
        )

    # -- delivery -----------------------------------------------------------------

    async def record(self, events: Sequence[ev.Event]) -> set[tuple[int, str]]:
        """One delivery per (enabled policy, matching event); the lanes they are in
        (all of them, recorded now or before: a retried batch wakes its lanes again)."""
        projects = [e.project for e in events if e.project]
        by_project: dict[str, list[PolicyRow]] = {}
        for policy in await self.store.enabled_policies(projects):
            by_project.setdefault(policy.project, []).append(policy)
        new: list[NewDelivery] = []
        lanes: set[tuple[int, str]] = set()
        for event in events:
            for policy in by_project.get(event.project or "", ()):
                if event.kind in policy.event_kinds:
                    data = payloads.event_json(event, project_public=policy.project_public)
                    new.append(NewDelivery(policy.id, data))
                    lanes.add((policy.id, event.repository or ""))
        await self.store.record(new)
        return lanes

    async def wake(self, policy_id: int, lanes: Sequence[str]) -> None:
        """Enqueue the delivery job of each lane (at most one queued per lane)."""
        for lane in lanes:
            await self._services.jobs.enqueue(
                DELIVER, {"policy": policy_id, "lane": lane}, dedup_key=lane_key(policy_id, lane)
            )

    def backoff(self, attempts: int) -> dt.timedelta:
        seconds = self.settings.backoff_seconds * 2 ** max(0, attempts - 1)
        return dt.timedelta(seconds=min(seconds, self.settings.max_backoff_seconds))

    async def deliver_lane(
        self, policy_id: int, lane: str, checkpoint: Callable[[], Awaitable[None]] | None = None
    ) -> LaneResult:
        """Send the lane's deliveries in order until it is empty, held by another
        sender, or its head waits for a retry."""
        policy = await self.store.get_policy(policy_id)
        if policy is None or not policy.enabled:
            return LaneResult()  # deleted (its deliveries with it) or paused
        endpoint = await self.endpoint(policy)
        host = registry_host(self._services, self.settings)
        coalesce = self.settings.coalesce_pulls if policy.format == "harbor" else 1
        lease = self.settings.timeout_seconds * 2 + 10  # a post is bounded by the timeout
        sent = 0
        delivered: list[int] = []
        async with client_for(endpoint, self.settings) as client:
            while True:
                if checkpoint is not None:
                    await checkpoint()
                claim = await self.store.claim(
                    policy_id, lane, lease_seconds=lease, coalesce=coalesce
                )
                if claim.empty or (claim.busy and claim.wait_until is None):
                    return LaneResult(sent, events=delivered)
                if claim.wait_until is not None:  # a retry, or a lease held by a sender
                    # that may have died: this lane is looked at again then
                    return self._retry(policy_id, lane, claim.wait_until, sent, delivered)
                head = claim.rows[0]
                outcome = await post(
                    client,
                    endpoint,
                    [r.event for r in claim.rows],
                    delivery_id=head.id,
                    event_id=str(head.event_id),
                    host=host,
                    settings=self.settings,
                )
                sent += 1
                state, retry_at = await self.store.finish(
                    claim.rows,
                    outcome,
                    max_attempts=self.settings.max_attempts,
                    backoff=self.backoff(head.attempts + 1),
                )
                if state == "delivered":
                    delivered += [int(r.event_id or 0) for r in claim.rows]
                elif state == "failed":
                    log.warning(
                        "webhook %d: delivery %d of event %s failed for good after %d attempts",
                        policy_id,
                        head.id,
                        head.event_id,
                        head.attempts + 1,
                    )
                if retry_at is not None:
                    return self._retry(policy_id, lane, retry_at, sent, delivered)

    def _retry(
        self, policy_id: int, lane: str, at: dt.datetime, sent: int, delivered: list[int]
    ) -> LaneResult:
        key = f"{lane_key(policy_id, lane)}:at:{int(at.timestamp() * 1000)}"
        return LaneResult(sent, retry_at=at, retry_key=key, events=delivered)


def payload_of(value: Mapping[str, Any]) -> tuple[int, str]:
    try:
        return int(value["policy"]), str(value["lane"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"not a webhooks.deliver payload: {dict(value)!r}"[:200]) from None
