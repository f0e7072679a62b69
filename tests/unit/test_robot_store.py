"""RobotStore conformance, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard.errors import Conflict
from dockyard.metadata.identity import Grant, Page
from tests.unit.identity_conformance import Postgres, Sqlite, Stores


class RobotStoreConformance:
    async def test_robots(self, stores: Stores) -> None:
        _, ids = stores
        await ids.projects.create_project("team-a")
        grants = [Grant("team-a", frozenset({"pull", "push"}), ("team-a/*",))]
        r = await ids.robots.create_robot(
            "robot$team-a+ci",
            project="team-a",
            description="ci",
            secret_hash="s",
            permissions=grants,
            expires_at=None,
            created_by="admin",
        )
        assert r.project == "team-a" and r.permissions == tuple(grants)
        with pytest.raises(Conflict):
            await ids.robots.create_robot(
                "robot$team-a+ci",
                project="team-a",
                description="",
                secret_hash="s",
                permissions=[],
                expires_at=None,
                created_by="admin",
            )
        await ids.robots.create_robot(
            "robot$sys",
            project=None,
            description="",
            secret_hash="t",
            permissions=[Grant("*", frozenset({"pull"}))],
            expires_at=None,
            created_by="admin",
        )
        found, total = await ids.robots.list_robots(None, Page())
        assert [x.name for x in found] == ["robot$sys"] and total == 1
        found, total = await ids.robots.list_robots("team-a", Page())
        assert [x.name for x in found] == ["robot$team-a+ci"] and total == 1
        found, total = await ids.robots.list_robots(
            "team-a", Page(), query="team", prefix="robot$team-a+"
        )
        assert (found, total) == ([], 0)  # the query is matched after the prefix
        found, _ = await ids.robots.list_robots("team-a", Page(), query="c", prefix="robot$team-a+")
        assert [x.name for x in found] == ["robot$team-a+ci"]
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        got = await ids.robots.update_robot(
            "robot$sys", disabled=True, expires_at=soon, secret_hash="u"
        )
        assert got is not None and got.disabled and got.secret_hash == "u"
        assert got.expires_at is not None and abs((got.expires_at - soon).total_seconds()) < 1
        assert await ids.robots.delete_robot("robot$sys")


class TestSqliteRobotStore(Sqlite, RobotStoreConformance):
    pass


class TestPostgresRobotStore(Postgres, RobotStoreConformance):
    pass
