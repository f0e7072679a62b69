"""The audit trail: who did what, when, from where.

Changes (members, robots, projects, users, policies) and logins are written before
the request is answered. Pulls and pushes are buffered and written once a second
(and at shutdown); identical pulls within that second are folded into one entry
with a count, so a busy registry writes one row per (who, where, what) per second,
not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard.diskspace import is_no_space
from dockyard.metadata.identity import AuditEvent
from dockyard.metadata.identity_stores import AuditStore

if TYPE_CHECKING:
    from dockyard.config.auth import AuthSettings

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
MAX_BUFFERED = 50_000


def _uncounted(amount: float = 1) -> None:
    return None


class AuditLog:
    def __init__(self, store: AuditStore, *, log_pulls: bool) -> None:
        self._store = store
        self.log_pulls = log_pulls
        self._pending: dict[tuple[str, ...], tuple[AuditEvent, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self.lost: Callable[[float], None] = _uncounted
        """counts audit entries that could not be recorded (a metric; services.py)"""

    def _lose(self, count: int, why: str, exc: BaseException | None = None) -> None:
        self.lost(count)
        if exc is None or is_no_space(exc):
            log.error("%d audit entries were not recorded: %s", count, why)
        else:
            log.error("%d audit entries were not recorded: %s", count, why, exc_info=exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def write(self, event: AuditEvent) -> None:
        """Record now (changes and logins)."""
        try:
            await self._store.add_audit([_stamped(event)])
        except Exception as exc:
            self._lose(1, f"{event.action} {event.resource}: {type(exc).__name__}: {exc}", exc)

    def buffer(self, event: AuditEvent) -> None:
        """Record within a second (registry traffic)."""
        key = (
            event.actor,
            event.actor_kind,
            event.address,
            event.action,
            event.resource,
            event.outcome,
        )
        held = self._pending.get(key)
        if held is not None:
            self._pending[key] = (held[0], held[1] + 1)
            return
        if len(self._pending) >= MAX_BUFFERED:
            self._dropped += 1
            return
        self._pending[key] = (_stamped(event), 1)

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        events: list[AuditEvent] = []
        for event, count in pending.values():
            if count > 1:
                detail: dict[str, Any] = {**(event.detail or {}), "count": count}
                event = AuditEvent(**{**_fields(event), "detail": detail})
            events.append(event)
        if self._dropped:
            self._lose(self._dropped, "the audit buffer was full")
            self._dropped = 0
        try:
            await self._store.add_audit(events)
        except Exception as exc:
            self._lose(len(events), f"{type(exc).__name__}: {exc}", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in AuditEvent.__slots__}


def _stamped(event: AuditEvent) -> AuditEvent:
    if event.at is not None:
        return event
    return AuditEvent(**{**_fields(event), "at": dt.datetime.now(dt.UTC)})


async def housekeeping(store: AuditStore, settings: AuthSettings) -> None:
    """Drop audit entries past their retention, and login throttle keys idle past the window."""
    now = dt.datetime.now(dt.UTC)
    purged = await store.purge_audit(now - dt.timedelta(days=settings.audit.retention_days))
    if purged:
        log.info(
            "purged %d audit entries older than %s days", purged, settings.audit.retention_days
        )
    await store.purge_login_attempts(now.timestamp() - settings.login.window_seconds)
