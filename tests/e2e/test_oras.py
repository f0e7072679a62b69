"""ORAS (the oras-py client of the ORAS project): login with a robot, push an artifact
and pull it back; a robot without push is refused.

oras-py runs with its basic-auth backend. Its token backend, holding a token from an
earlier request, re-sends that same token when a registry answers 401 with
error="insufficient_scope" (as the reference registry does, and Dockyard since
containerd, docker and skopeo re-authenticate on 401 only), so it cannot push after a
pull-scoped request against either registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.server import RunningServer

oras_client = pytest.importorskip("oras.client")


@pytest.mark.e2e
def test_oras_login_push_pull(server: RunningServer, tmp_path: Path, repo: str) -> None:
    client = oras_client.OrasClient(hostname=server.hostport, insecure=True, auth_backend="basic")
    user, password = server.login
    got = client.login(
        username=user,
        password=password,
        hostname=server.hostport,
        config_path=str(tmp_path / "config.json"),
    )
    assert "Login Succeeded" in str(got)
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(os.urandom(4096).hex().encode())
    os.chdir(tmp_path)  # oras-py stores pushed paths relative to the working directory
    target = f"{server.hostport}/{repo}:v1"
    response = client.push(target=target, files=[artifact.name])
    assert response.status_code == 201
    out = tmp_path / "out"
    files = client.pull(target=target, outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [artifact.read_bytes()]
