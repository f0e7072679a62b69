"""LDAP through a running Dockyard and a real slapd: `skopeo login` with directory
passwords, directory groups as project members, the admin group, and failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.access.conftest import api_ok
from tests.spec.helpers import image
from tests.support.oci_layout import build_image
from tests.support.server import RunningServer, run_server
from tests.support.slapd import Slapd
from tests.support.tools import Skopeo, require_binary


@pytest.fixture(scope="module")
def ldap_server(slapd: Slapd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = slapd.dockyard_env(admin_group="registry-admins")
    with run_server(tmp_path_factory.mktemp("ldap-dy") / "data", workers=1, env=env) as srv:
        with httpx.Client(base_url=srv.url, auth=srv.admin, timeout=30) as admin:
            api_ok(admin.post("/api/v1/projects", json={"name": "team-b", "public": False}), 201)
            api_ok(
                admin.post(
                    "/api/v1/projects/team-b/members",
                    json={
                        "kind": "group",
                        "name": "team-b",
                        "role": "developer",
                        "repositories": ["team-b/api/*"],
                    },
                ),
                201,
            )
        with srv.client(srv.admin) as reg:
            raw, doc = image(reg, "team-b/api/server")
            assert (
                reg.put(
                    "/v2/team-b/api/server/manifests/v1",
                    content=raw,
                    headers={"Content-Type": doc["mediaType"]},
                ).status_code
                == 201
            )
        yield srv


def test_directory_group_grants_access(ldap_server: RunningServer, slapd: Slapd) -> None:
    bob = ("bob", slapd.passwords["bob"])
    with ldap_server.client(bob) as reg:
        r = reg.get(
            "/v2/team-b/api/server/manifests/v1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status_code == 200, r.text
        raw, doc = image(reg, "team-b/api/server")
        assert (
            reg.put(
                "/v2/team-b/api/server/manifests/bob",
                content=raw,
                headers={"Content-Type": doc["mediaType"]},
            ).status_code
            == 201
        )
    # outside the group's repository glob: nothing
    with httpx.Client(base_url=ldap_server.url, auth=bob) as basic:
        assert basic.get("/v2/team-b/web/manifests/v1").status_code == 403
    # carol has no groups: authenticated, but no access to the private project
    carol = ("carol", slapd.passwords["carol"])
    with httpx.Client(base_url=ldap_server.url, auth=carol) as basic:
        assert basic.get("/v2/").status_code == 200
        assert basic.get("/v2/team-b/api/server/manifests/v1").status_code == 403


def test_admin_group_and_synced_record(ldap_server: RunningServer, slapd: Slapd) -> None:
    alice = ("alice", slapd.passwords["alice"])
    with httpx.Client(base_url=ldap_server.url, auth=alice) as basic:
        assert basic.get("/v2/_catalog").status_code == 200  # registry-admins: administrator
        me = api_ok(basic.get("/api/v1/users/current"))
        assert me["is_admin"] is True and me["source"] == "ldap"


def test_bad_directory_logins(ldap_server: RunningServer, slapd: Slapd) -> None:
    for user, password in (
        ("bob", "wrong"),
        ("nobody", "whatever"),
        ("eve*)(uid=*", "x"),
        ("*", slapd.passwords["bob"]),
        ("dave", slapd.passwords.get("dave", "x")),  # ambiguous in the directory
    ):
        r = httpx.get(f"{ldap_server.url}/v2/", auth=(user, password))
        assert r.status_code == 401, (user, r.status_code)


@pytest.mark.e2e
def test_skopeo_login_with_directory_password(
    ldap_server: RunningServer, slapd: Slapd, tmp_path: Path
) -> None:
    require_binary("skopeo")
    skopeo = Skopeo(
        ldap_server.hostport, workdir=tmp_path, credentials=("bob", slapd.passwords["bob"])
    )
    img = build_image(tmp_path / "img", "v1", layers=[2048], seed="ldap-bob")
    skopeo.push_oci(img.layout, "v1", "team-b/api/cli", "v1")
    denied = skopeo.copy(f"oci:{img.layout}:v1", skopeo.ref("team-b/other", "v1"), check=False)
    assert denied.returncode != 0
