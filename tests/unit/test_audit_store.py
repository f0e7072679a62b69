"""AuditStore and SecretStore conformance, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from dockyard.metadata.identity import AuditEvent, AuditQuery, Page, ThrottleRule
from tests.unit.identity_conformance import Postgres, Sqlite, Stores


class AuditStoreConformance:
    async def test_audit(self, stores: Stores) -> None:
        _, ids = stores
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        await ids.audit.add_audit(
            [
                AuditEvent("alice", "user", "10.0.0.1", "push", "team-a/app:v1", project="team-a"),
                AuditEvent("bob", "user", "10.0.0.2", "pull", "team-b/app:v1", project="team-b"),
                AuditEvent(
                    "bob",
                    "user",
                    "10.0.0.2",
                    "login",
                    "user/bob",
                    outcome="failed",
                    detail={"reason": "x"},
                    at=old,
                ),
            ]
        )
        got, total = await ids.audit.query_audit(AuditQuery(actor="bob"), Page())
        assert total == 2 and got[0].action == "pull"  # newest first
        got, _ = await ids.audit.query_audit(AuditQuery(outcome="failed"), Page())
        assert got[0].detail == {"reason": "x"}
        got, _ = await ids.audit.query_audit(AuditQuery(projects=["team-a"]), Page())
        assert [e.actor for e in got] == ["alice"]
        got, _ = await ids.audit.query_audit(AuditQuery(resource_prefix="team-"), Page(1, 1))
        assert len(got) == 1
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        _, total = await ids.audit.query_audit(AuditQuery(since=since), Page())
        assert total == 2
        assert await ids.audit.purge_audit(since) == 1

    async def test_login_throttle_counts_then_backs_off(self, stores: Stores) -> None:
        _, ids = stores
        rule = ThrottleRule(free=3, base=10.0, cap=40.0, window=100.0)
        now = 1_000_000.0

        async def wait(key: str, at: float) -> float:
            admitted, until = await ids.audit.take_login_attempt(key, at, rule)
            return 0.0 if admitted else until - at

        # the first free attempts go ahead; the third starts the first backoff
        assert [await wait("k", now) for _ in range(3)] == [0, 0, 0]
        assert await wait("k", now + 1) == pytest.approx(9.0)
        assert await wait("other", now + 1) == 0  # keys are independent
        # once the wait is over, one attempt goes ahead and the wait doubles
        assert await ids.audit.take_login_attempt("k", now + 10, rule) == (True, now + 30)
        assert await wait("k", now + 29) == pytest.approx(1.0)
        assert await wait("k", now + 30) == 0
        assert await wait("k", now + 31) == pytest.approx(39.0)  # the cap
        # a success resets the key
        await ids.audit.forgive_login_attempt("k", rule, reset=True)
        assert await wait("k", now + 32) == 0
        # failures older than the window are forgotten
        for _ in range(2):
            await wait("k", now + 33)
        assert await wait("k", now + 33 + 40 + 101) == 0
        assert await ids.audit.purge_login_attempts(now + 10_000) == 2

    async def test_login_throttle_is_atomic_under_concurrency(self, stores: Stores) -> None:
        _, ids = stores
        rule = ThrottleRule(free=5, base=60.0, cap=60.0, window=600.0)
        now = 2_000_000.0
        got = await asyncio.gather(
            *(ids.audit.take_login_attempt("storm", now, rule) for _ in range(40))
        )
        assert sum(1 for admitted, _ in got if admitted) == 5, got

    async def test_secrets(self, stores: Stores) -> None:
        _, ids = stores
        got = await asyncio.gather(
            *(ids.secrets.get_or_create_secret("k", f"v{i}") for i in range(5))
        )
        assert len(set(got)) == 1 and await ids.secrets.get_secret("k") == got[0]


class TestSqliteAuditStore(Sqlite, AuditStoreConformance):
    pass


class TestPostgresAuditStore(Postgres, AuditStoreConformance):
    pass
