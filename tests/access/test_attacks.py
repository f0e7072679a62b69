"""Hostile credentials and requests: borrowed, escalated, expired, tampered, forged and
unsigned tokens; revoked and expired robots; path tricks; password guessing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.access.conftest import World, api_ok, create_robot, create_user


def token_for(world: World, creds: tuple[str, str] | None, *scopes: str) -> str:
    r = httpx.get(
        f"{world.server.url}/auth/token",
        params=[("service", "dockyard"), *(("scope", s) for s in scopes)],
        auth=creds,  # type: ignore[arg-type]
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def bearer(world: World, token: str, path: str, method: str = "GET") -> httpx.Response:
    return httpx.request(
        method, f"{world.server.url}{path}", headers={"Authorization": f"Bearer {token}"}
    )


def claims_of(token: str) -> dict:  # type: ignore[type-arg]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def server_key(world: World) -> ec.EllipticCurvePrivateKey:
    db = sqlite3.connect(world.server.data_dir / "dockyard.db")
    try:
        (pem,) = db.execute(
            "SELECT value FROM secrets WHERE name = 'token-signing-key-ES256'"
        ).fetchone()
    finally:
        db.close()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def forge(key: object, claims: dict, kid: str, alg: str = "ES256") -> str:  # type: ignore[type-arg]
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


def _assert_rejected(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert r.headers["www-authenticate"].startswith("Bearer realm=")


def test_token_for_one_repository_does_not_open_another(world: World) -> None:
    token = token_for(world, world.server.admin, "repository:pub/app:pull")
    assert bearer(world, token, "/v2/pub/app/manifests/seed").status_code == 200
    r = bearer(world, token, "/v2/priv/app/manifests/seed")
    # as the reference registry answers: 401 naming the scope, so clients re-authenticate
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert 'scope="repository:priv/app:pull"' in r.headers["www-authenticate"]


def test_scope_escalation_is_narrowed(world: World) -> None:
    guest = world.users["guest"]
    token = token_for(world, guest, "repository:priv/app:pull,push,delete,*")
    assert claims_of(token)["access"] == [
        {"type": "repository", "name": "priv/app", "actions": ["pull"]}
    ]
    catalog = token_for(world, guest, "registry:catalog:*")
    assert claims_of(catalog)["access"] == [{"type": "registry", "name": "catalog", "actions": []}]
    r = bearer(world, token, "/v2/priv/app/manifests/x", "DELETE")
    assert r.status_code == 401 and 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert "guest or higher" not in r.json()["errors"][0]["message"]
    assert "maintainer or higher" in r.json()["errors"][0]["message"]


def test_expired_token(world: World) -> None:
    token = token_for(world, world.server.admin, "repository:priv/app:pull")
    claims = claims_of(token)
    kid = jwt.get_unverified_header(token)["kid"]
    past = int(time.time()) - 3600
    expired = forge(server_key(world), {**claims, "iat": past - 300, "exp": past}, kid)
    r = bearer(world, expired, "/v2/priv/app/manifests/seed")
    _assert_rejected(r)
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_tampered_token(world: World) -> None:
    token = token_for(world, world.users["guest"], "repository:priv/app:pull")
    header, _payload, sig = token.split(".")
    claims = claims_of(token)
    claims["access"][0]["actions"] = ["pull", "push", "delete"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _assert_rejected(
        bearer(world, f"{header}.{forged_payload}.{sig}", "/v2/priv/app/manifests/x", "DELETE")
    )


def test_token_signed_by_another_key(world: World) -> None:
    token = token_for(world, world.server.admin, "repository:priv/app:pull")
    kid = jwt.get_unverified_header(token)["kid"]
    other = ec.generate_private_key(ec.SECP256R1())
    _assert_rejected(
        bearer(world, forge(other, claims_of(token), kid), "/v2/priv/app/manifests/seed")
    )


def test_unsigned_and_hmac_tokens(world: World) -> None:
    token = token_for(world, world.server.admin, "repository:priv/app:pull")
    claims = claims_of(token)
    kid = jwt.get_unverified_header(token)["kid"]
    unsigned = forge(None, claims, kid, alg="none")
    _assert_rejected(bearer(world, unsigned, "/v2/priv/app/manifests/seed"))
    # the "HMAC keyed with the public key" confusion
    public_pem = (
        server_key(world)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode()
    ).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(
        hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    ).rstrip(b"=")
    hs = b".".join([header, body, sig]).decode()
    _assert_rejected(bearer(world, hs, "/v2/priv/app/manifests/seed"))
    _assert_rejected(bearer(world, "not-a-token", "/v2/priv/app/manifests/seed"))


def test_revoked_robot(world: World) -> None:
    name, secret = create_robot(
        world.admin,
        f"revoked{uuid.uuid4().hex[:6]}",
        [{"project": "priv", "actions": ["pull"]}],
        project="priv",
    )
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, secret)).status_code == 200
    api_ok(world.admin.patch(f"/api/v1/projects/priv/robots/{name}", json={"disabled": True}))
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, secret)).status_code == 401
    r = httpx.get(
        f"{world.server.url}/auth/token", params={"service": "dockyard"}, auth=(name, secret)
    )
    assert r.status_code == 401


def test_rotated_robot_secret(world: World) -> None:
    name, secret = create_robot(
        world.admin,
        f"rot{uuid.uuid4().hex[:6]}",
        [{"project": "priv", "actions": ["pull"]}],
        project="priv",
    )
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, secret)).status_code == 200
    fresh = api_ok(world.admin.post(f"/api/v1/projects/priv/robots/{name}/secret"))["secret"]
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, secret)).status_code == 401
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, fresh)).status_code == 200


def test_expired_robot(world: World) -> None:
    def robot() -> tuple[str, str]:
        return create_robot(
            world.admin,
            f"exp{uuid.uuid4().hex[:6]}",
            [{"project": "priv", "actions": ["pull"]}],
            project="priv",
            expires_in_days=1,
        )

    live_name, live_secret = robot()
    assert httpx.get(f"{world.server.url}/v2/", auth=(live_name, live_secret)).status_code == 200
    # the same robot a day later: move its expiry into the past, as the clock would
    name, secret = robot()
    db = sqlite3.connect(world.server.data_dir / "dockyard.db")
    with db:
        db.execute(
            "UPDATE robots SET expires_at = ? WHERE name = ?",
            ((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(" "), name),
        )
    db.close()
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, secret)).status_code == 401
    r = httpx.get(
        f"{world.server.url}/auth/token", params={"service": "dockyard"}, auth=(name, secret)
    )
    assert r.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/v2/pub/../priv/app/manifests/seed",
        "/v2/pub/%2e%2e/priv/app/manifests/seed",
        "/v2/pub/app/../../priv/app/manifests/seed",
        "/v2//priv/app/manifests/seed",
        "/v2/priv//app/manifests/seed",
        "/v2/PRIV/app/manifests/seed",
        "/v2/./priv/app/manifests/seed",
        "/v2/priv/app%2fx/manifests/seed",
    ],
)
def test_path_tricks_never_reach_a_private_repository(world: World, path: str) -> None:
    outsider = world.users["outsider"]
    for auth in (None, outsider):
        r = httpx.get(f"{world.server.url}{path}", auth=auth)  # type: ignore[arg-type]
        assert r.status_code in (400, 401, 403, 404), (path, r.status_code)
        assert r.status_code != 200
        if r.status_code == 400:
            assert r.json()["errors"][0]["code"] == "NAME_INVALID"


def test_brute_force_is_throttled(world: World) -> None:
    user, password = create_user(world.admin, f"victim{uuid.uuid4().hex[:6]}")
    url = f"{world.server.url}/v2/"
    transport = httpx.HTTPTransport(local_address="127.0.0.9")
    with httpx.Client(transport=transport, timeout=30) as guesser:
        codes = [guesser.get(url, auth=(user, "wrong-password")).status_code for _ in range(12)]
    # the free attempts are checked, then the guesser backs off (the first backoff is
    # one second: at least one of the two that follow at once is refused)
    assert codes[:10] == [401] * 10 and 429 in codes[10:], codes
    logs = api_ok(world.admin.get("/api/v1/audit-logs", params={"actor": user, "action": "login"}))
    assert sum(1 for e in logs if e["outcome"] == "failed") >= 10
    # the account itself is not locked: its owner, elsewhere, still gets in
    r = httpx.get(
        f"{world.server.url}/auth/token", params={"service": "dockyard"}, auth=(user, password)
    )
    assert r.status_code == 200


def test_refresh_token_dies_with_a_password_change(world: World) -> None:
    user, password = create_user(world.admin, f"refresh{uuid.uuid4().hex[:6]}")
    got = httpx.post(
        f"{world.server.url}/auth/token",
        data={
            "grant_type": "password",
            "username": user,
            "password": password,
            "service": "dockyard",
            "client_id": "test",
            "access_type": "offline",
            "scope": "repository:pub/app:pull",
        },
    )
    assert got.status_code == 200, got.text
    refresh = got.json()["refresh_token"]
    again = httpx.post(
        f"{world.server.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "dockyard",
            "client_id": "test",
            "scope": "repository:pub/app:pull",
        },
    )
    assert again.status_code == 200, again.text
    assert claims_of(again.json()["access_token"])["access"][0]["actions"] == ["pull"]
    api_ok(world.admin.patch(f"/api/v1/users/{user}", json={"password": "a-new-password-1"}))
    dead = httpx.post(
        f"{world.server.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "dockyard",
            "client_id": "test",
        },
    )
    assert dead.status_code == 401 and dead.json()["error"] == "invalid_grant"


def test_wrong_service_and_garbage_grants(world: World) -> None:
    r = httpx.get(f"{world.server.url}/auth/token", params={"service": "elsewhere"})
    assert r.status_code == 400
    r = httpx.post(f"{world.server.url}/auth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = httpx.post(
        f"{world.server.url}/auth/token",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    r = httpx.get(f"{world.server.url}/v2/", headers={"Authorization": "Basic !!!notbase64"})
    assert r.status_code == 401
