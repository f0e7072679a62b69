"""OidcClient against a real OpenID provider (node oidc-provider on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from dockyard.auth.identity import ExternalIdentity, IdentityProviderUnavailable
from dockyard.auth.oidc import OidcClient, OidcLoginError
from dockyard.config.auth import OidcSettings
from tests.support.oidc_provider import OidcProvider
from tests.support.server import free_port

# any port: the provider's client is a loopback "native" client (RFC 8252 §7.3)
CALLBACK = "http://127.0.0.1:{port}/auth/oidc/callback"


def settings(op: OidcProvider, **overrides: Any) -> OidcSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "issuer": op.issuer,
        "client_id": op.client_id,
        "client_secret": SecretStr(op.client_secret),
        "admin_group": "registry-admins",
    }
    values.update(overrides)
    return OidcSettings(**values)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def login(
    op: OidcProvider, client: OidcClient, username: str, port: int = 8080
) -> tuple[dict[str, str], dict[str, str]]:
    """Begin a login, let `username` sign in at the provider: (pending, callback params)."""
    url, pending = await client.begin(CALLBACK.format(port=port))
    return pending, query(op.login(url, username))


async def test_alice_logs_in_with_groups_and_admin(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "alice")
    identity = await client.finish(pending, params)
    assert identity == ExternalIdentity(
        username="alice",
        email="alice@example.org",
        groups=("team-a-devs", "registry-admins"),
        is_admin=True,
        subject="alice",
    )


async def test_bob_is_not_admin(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "bob", port=free_port())
    identity = await client.finish(pending, params)
    assert (identity.username, identity.email) == ("bob", "bob@example.org")
    assert identity.groups == ("team-b",)
    assert identity.is_admin is False


async def test_authorization_url_carries_state_nonce_and_pkce(
    oidc_provider: OidcProvider,
) -> None:
    client = OidcClient(settings(oidc_provider))
    redirect = CALLBACK.format(port=9999)
    url, pending = await client.begin(redirect)
    q = query(url)
    assert url.startswith(oidc_provider.issuer + "/")
    assert set(pending) == {"state", "nonce", "code_verifier", "redirect_uri"}
    assert q["state"] == pending["state"] and q["nonce"] == pending["nonce"]
    assert q["code_challenge_method"] == "S256"
    assert q["code_challenge"] and pending["code_verifier"] not in url
    assert q["redirect_uri"] == redirect == pending["redirect_uri"]
    assert q["response_type"] == "code" and "groups" in q["scope"].split()


async def test_tampered_state_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "alice")
    with pytest.raises(OidcLoginError, match="state"):
        await client.finish(pending, {**params, "state": params["state"] + "x"})
    with pytest.raises(OidcLoginError, match="state"):
        await client.finish({**pending, "state": "forged"}, params)


async def test_a_code_is_redeemed_once(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "alice")
    await client.finish(pending, params)
    with pytest.raises(OidcLoginError, match="invalid_grant") as caught:
        await client.finish(pending, params)
    assert params["code"] not in str(caught.value)


async def test_nonce_mismatch_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "alice")
    with pytest.raises(OidcLoginError, match="invalid ID token"):
        await client.finish({**pending, "nonce": "another-nonce"}, params)


async def test_wrong_code_verifier_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "alice")
    with pytest.raises(OidcLoginError, match="invalid_grant"):
        await client.finish({**pending, "code_verifier": "x" * 64}, params)


async def test_error_from_the_provider_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    _, pending = await client.begin(CALLBACK.format(port=8080))
    params = {
        "state": pending["state"],
        "iss": oidc_provider.issuer,
        "error": "access_denied",
        "error_description": "End-User aborted\ninteraction",
    }
    with pytest.raises(OidcLoginError, match=r"access_denied: End-User aborted interaction$"):
        await client.finish(pending, params)


async def test_callback_from_another_issuer_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "alice")
    with pytest.raises(OidcLoginError, match="issuer"):
        await client.finish(pending, {**params, "iss": "http://127.0.0.1:1"})


async def test_missing_username_claim_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider, username_claim="nickname"))
    pending, params = await login(oidc_provider, client, "bob")
    with pytest.raises(OidcLoginError, match="nickname"):
        await client.finish(pending, params)


async def test_wrong_client_secret_is_a_provider_side_failure(
    oidc_provider: OidcProvider,
) -> None:
    """Every login would fail alike: a configuration fault (503), not the user's
    failed login (401, counted against the login limits)."""
    client = OidcClient(settings(oidc_provider, client_secret=SecretStr("wrong")))
    pending, params = await login(oidc_provider, client, "alice")
    with pytest.raises(IdentityProviderUnavailable, match="invalid_client") as caught:
        await client.finish(pending, params)
    assert "wrong" not in str(caught.value)


async def test_unreachable_provider(oidc_provider: OidcProvider) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = OidcClient(settings(oidc_provider, issuer=dead))
    with pytest.raises(IdentityProviderUnavailable, match="discovery"):
        await client.begin(CALLBACK.format(port=8080))


async def test_discovery_of_another_issuer_is_refused(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider, issuer=oidc_provider.issuer + "/other"))
    with pytest.raises(IdentityProviderUnavailable):
        await client.begin(CALLBACK.format(port=8080))


async def test_unknown_accounts_cannot_log_in(oidc_provider: OidcProvider) -> None:
    client = OidcClient(settings(oidc_provider))
    pending, params = await login(oidc_provider, client, "mallory")
    assert "code" not in params
    with pytest.raises(OidcLoginError, match="access_denied"):
        await client.finish(pending, params)


async def test_unreadable_ca_file_is_a_provider_side_failure(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    client = OidcClient(settings(oidc_provider, ca_file=tmp_path / "missing.pem"))
    with pytest.raises(IdentityProviderUnavailable, match="ca_file"):
        await client.begin(CALLBACK.format(port=8080))
