"""A replica killed with SIGKILL mid-upload: the client retries elsewhere and the
registry stays consistent."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.production import deployment
from tests.support.s3server import S3Server

pytestmark = pytest.mark.e2e


def _slow(data: bytes, started: threading.Event, release: threading.Event) -> Iterator[bytes]:
    half = len(data) // 2
    yield data[:half]
    started.set()
    release.wait(30)
    yield data[half:]


def test_kill_9_mid_upload_then_retry_elsewhere(s3: S3Server, tmp_path: Path) -> None:
    data = os.urandom(12 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    repo = "crash/app"
    with deployment(s3, tmp_path, replicas=2) as d:
        victim, survivor = d.replicas
        with httpx.Client(timeout=60, auth=d.auth()) as http:
            loc = http.post(f"{victim.url}/v2/{repo}/blobs/uploads/").headers["Location"]
            started, release = threading.Event(), threading.Event()
            failure: list[BaseException] = []

            def send() -> None:
                try:
                    with httpx.Client(timeout=60, auth=d.auth()) as c2:
                        c2.patch(victim.url + loc, content=_slow(data, started, release))
                except httpx.HTTPError as exc:
                    failure.append(exc)

            t = threading.Thread(target=send)
            t.start()
            assert started.wait(20)
            # pull the plug once the first half has reached the object store
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                d.s3.multipart_uploads(d.bucket) or d.s3.keys(d.bucket, "registry/uploads/")
            ):
                time.sleep(0.05)  # polling interval
            victim.kill()
            release.set()
            t.join(60)
            assert failure, "the PATCH to a killed replica cannot have succeeded"

            # the half-finished upload is not a blob anywhere
            assert http.head(f"{survivor.url}/v2/{repo}/blobs/{digest}").status_code == 404
            # the client retries the whole blob against another replica
            r = http.post(
                f"{survivor.url}/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data
            )
            assert r.status_code == 201, r.text
            got = http.get(f"{survivor.url}/v2/{repo}/blobs/{digest}")
            assert got.status_code == 200 and got.content == data
            # the interrupted session is still known (the janitor purges it later),
            # at the offset it had acknowledged: nothing
            status = http.get(survivor.url + loc)
            assert status.status_code == 204 and status.headers["Range"] == "0-0"
