from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.production import Deployment, deployment
from tests.support.s3server import S3Server


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> S3Server:
    return s3_server


@pytest.fixture(scope="module")
def cluster(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Three replicas over one PostgreSQL database, one S3 bucket and Redis."""
    base: Path = tmp_path_factory.mktemp("cluster")
    with deployment(s3, base, replicas=3) as d:
        yield d
