"""A real S3-speaking server on loopback for tests and benchmarks.

moto in server mode (`python -m moto.server`, from the `test` extra) answers
the S3 REST API over HTTP: multipart uploads, UploadPartCopy, ranged GETs,
ListObjectsV2, DeleteObjects and presigned URLs. It keeps objects in its own
process, so it stands in for the object store that replicas share: every
registry process (or the Go registry in `bench/`) pointed at the endpoint sees
the same buckets.

    with run_s3_server() as s3:
        bucket = s3.create_bucket()
        env = s3.aws_env()            # AWS_ACCESS_KEY_ID ... for a subprocess
        url = s3.storage_url(bucket)  # DOCKYARD_STORAGE_URL for `dockyard serve`

The server is started on a free 127.0.0.1 port, polled until it answers, and
stopped by its PID (its own process group) at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.support.processes import stop_process_group
from tests.support.server import free_port

ACCESS_KEY_ID = "dockyard-test"
SECRET_ACCESS_KEY = "dockyard-test-secret"
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY
    region: str = REGION
    _buckets: list[str] = field(default_factory=list)

    # -- clients -------------------------------------------------------------

    def client(self) -> Any:
        """A synchronous botocore S3 client for test setup and inspection."""
        import botocore.config
        import botocore.session

        session = botocore.session.get_session()
        return session.create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=botocore.config.Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a fresh bucket (a unique name unless one is given) and return its name."""
        bucket = name or f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=bucket)
        self._buckets.append(bucket)
        return bucket

    def delete_bucket(self, bucket: str) -> None:
        """Empty and remove a bucket, aborting multipart uploads left in it."""
        c = self.client()
        for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for up in page.get("Uploads", []):
                c.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                c.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        c.delete_bucket(Bucket=bucket)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in a bucket under `prefix` (raw, as the server holds them)."""
        out: list[str] = []
        c = self.client()
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(out)

    def multipart_uploads(self, bucket: str) -> list[str]:
        """Keys of the multipart uploads in progress in a bucket."""
        page = self.client().list_multipart_uploads(Bucket=bucket)
        return sorted(u["Key"] for u in page.get("Uploads", []))

    # -- configuration for other processes ----------------------------------

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables a subprocess (dockyard, the Go registry) reads."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def storage_url(self, bucket: str, prefix: str = "", **params: str | bool) -> str:
        """A `DOCKYARD_STORAGE_URL` for this server: s3://bucket/prefix?endpoint=…"""
        query: dict[str, str] = {
            "endpoint": self.endpoint,
            "region": self.region,
            "path_style": "true",
        }
        for key, value in params.items():
            query[key] = ("true" if value else "false") if isinstance(value, bool) else value
        return f"s3://{bucket}/{prefix.strip('/')}?{urlencode(query)}"

    def settings(self, bucket: str, prefix: str = "", **overrides: Any) -> dict[str, Any]:
        """A `storage:` section (as a dict) for this server, credentials included."""
        section: dict[str, Any] = {
            "driver": "s3",
            "bucket": bucket,
            "prefix": prefix,
            "region": self.region,
            "endpoint": self.endpoint,
            "path_style": True,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }
        section.update(overrides)
        return section

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"S3 server exited with {process.returncode}")
            try:
                # any HTTP answer means the server is serving; ListBuckets answers 200
                client.get(endpoint + "/")
                return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling interval
    raise TimeoutError(f"S3 server at {endpoint} not ready after {timeout}s")


@contextmanager
def run_s3_server(log_dir: Path | None = None, *, timeout: float = 60.0) -> Iterator[S3Server]:
    """Start moto's S3 server on a free loopback port; stop it (by PID) on exit."""
    port = free_port()
    host = "127.0.0.1"
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"s3server-{port}.log"
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stopped as one below
        )
    endpoint = f"http://{host}:{port}"
    try:
        _wait_ready(endpoint, proc, timeout)
        yield S3Server(endpoint, host, port, proc, log_path)
    finally:
        stop_process_group(proc)
