from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.server import RunningServer, run_server

if TYPE_CHECKING:
    from tests.support.s3server import S3Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real registry process (2 workers) shared by the whole session."""
    base: Path = tmp_path_factory.mktemp("registry")
    with run_server(base / "data") as srv:
        yield srv


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as c:
        yield c


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from tests.support.postgres import temporary_database

    async with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-speaking server (moto) on loopback, shared by the session; tests take
    a fresh bucket each with `s3_server.create_bucket()`."""
    from tests.support.s3server import run_s3_server

    with run_s3_server(tmp_path_factory.mktemp("s3server")) as s3:
        yield s3
