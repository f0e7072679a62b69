"""LdapAuthenticator against a real slapd (tests/support/slapd.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from dockyard.auth.identity import ExternalIdentity, IdentityProviderUnavailable
from dockyard.auth.ldap import LdapAuthenticator
from tests.support.server import free_port
from tests.support.slapd import EVE_UID, Slapd


async def login(
    slapd: Slapd, username: str, password: str, **settings: object
) -> ExternalIdentity | None:
    return await LdapAuthenticator(slapd.settings(**settings)).authenticate(username, password)


async def test_alice_logs_in_with_her_groups_and_is_admin(slapd: Slapd) -> None:
    me = await login(slapd, "alice", slapd.passwords["alice"], admin_group="registry-admins")
    assert me == ExternalIdentity(
        username="alice",
        email="alice@example.org",
        groups=("registry-admins", "team-a-devs"),
        is_admin=True,
        subject=slapd.user_dn("alice"),
    )


async def test_not_admin_without_admin_group(slapd: Slapd) -> None:
    me = await login(slapd, "alice", slapd.passwords["alice"])
    assert me is not None and not me.is_admin
    bob = await login(slapd, "bob", slapd.passwords["bob"], admin_group="registry-admins")
    assert bob is not None and not bob.is_admin


async def test_member_uid_group_found_by_default_filter(slapd: Slapd) -> None:
    bob = await login(slapd, "bob", slapd.passwords["bob"])
    assert bob is not None
    assert bob.groups == ("team-b",)
    assert bob.subject == slapd.user_dn("bob")


async def test_user_without_groups_or_email(slapd: Slapd) -> None:
    carol = await login(slapd, "carol", slapd.passwords["carol"])
    assert carol == ExternalIdentity(username="carol", subject=slapd.user_dn("carol"))


async def test_no_group_base_means_no_groups(slapd: Slapd) -> None:
    me = await login(
        slapd, "alice", slapd.passwords["alice"], group_base_dn=None, admin_group="registry-admins"
    )
    assert me is not None and me.groups == () and not me.is_admin


async def test_wrong_password(slapd: Slapd) -> None:
    assert await login(slapd, "alice", "not-her-password") is None
    assert await login(slapd, "alice", slapd.passwords["bob"]) is None


async def test_empty_password_is_not_an_unauthenticated_bind(slapd: Slapd) -> None:
    assert await login(slapd, "alice", "") is None
    assert await login(slapd, "", "") is None


async def test_unknown_user(slapd: Slapd) -> None:
    assert await login(slapd, "mallory", "whatever") is None


async def test_ambiguous_user_is_refused(slapd: Slapd) -> None:
    # two entries have uid=dave (ou=people and ou=contractors,ou=people)
    assert await login(slapd, "dave", slapd.passwords["dave"]) is None


@pytest.mark.parametrize(
    "username",
    ["*", "ali*", "a*e", "alice)(|(uid=*", "alice)(uid=alice", "*)(uid=*", "alice\\2a", "\x00"],
)
async def test_filter_injection_logs_no_one_in(slapd: Slapd, username: str) -> None:
    for password in slapd.passwords.values():
        assert await login(slapd, username, password) is None


async def test_metacharacter_uid_logs_in_as_herself_only(slapd: Slapd) -> None:
    eve = await login(slapd, EVE_UID, slapd.passwords[EVE_UID])
    assert eve is not None
    assert eve.username == EVE_UID
    assert eve.subject == f"cn=Eve Injector,{slapd.user_base_dn}"
    # her memberUid group is found through the escaped {username}; no one else's groups
    assert eve.groups == ("eve-group",)
    assert await login(slapd, EVE_UID, slapd.passwords["alice"]) is None


async def test_user_filter_with_other_attribute(slapd: Slapd) -> None:
    me = await login(
        slapd, "alice@example.org", slapd.passwords["alice"], user_filter="(mail={username})"
    )
    assert me is not None and me.username == "alice" and me.subject == slapd.user_dn("alice")


async def test_anonymous_search(slapd: Slapd) -> None:
    me = await login(slapd, "alice", slapd.passwords["alice"], bind_dn=None, bind_password=None)
    assert me is not None and me.groups == ("registry-admins", "team-a-devs")


async def test_search_account_with_wrong_password_is_unavailable(slapd: Slapd) -> None:
    with pytest.raises(IdentityProviderUnavailable) as err:
        await login(slapd, "alice", slapd.passwords["alice"], bind_password="wrong-secret")
    message = str(err.value)
    assert "\n" not in message and "wrong-secret" not in message
    assert slapd.passwords["alice"] not in message


async def test_missing_user_base_is_unavailable(slapd: Slapd) -> None:
    with pytest.raises(IdentityProviderUnavailable, match="noSuchObject"):
        await login(
            slapd, "alice", slapd.passwords["alice"], user_base_dn=f"ou=nowhere,{slapd.base_dn}"
        )


async def test_ldaps_with_ca_file(slapd: Slapd) -> None:
    me = await login(slapd, "alice", slapd.passwords["alice"], url=slapd.ldaps_url)
    assert me is not None and me.subject == slapd.user_dn("alice")


async def test_ldaps_verifying_without_the_ca_is_unavailable(slapd: Slapd) -> None:
    with pytest.raises(IdentityProviderUnavailable) as err:
        await login(slapd, "alice", slapd.passwords["alice"], url=slapd.ldaps_url, ca_file=None)
    assert "\n" not in str(err.value) and slapd.passwords["alice"] not in str(err.value)


async def test_ldaps_without_verification(slapd: Slapd) -> None:
    me = await login(
        slapd,
        "alice",
        slapd.passwords["alice"],
        url=slapd.ldaps_url,
        ca_file=None,
        verify_tls=False,
    )
    assert me is not None


async def test_ldaps_hostname_must_match_certificate(slapd: Slapd) -> None:
    # the certificate names 127.0.0.1 only; localhost resolves there but is not named
    with pytest.raises(IdentityProviderUnavailable, match="doesn't match"):
        await login(
            slapd,
            "alice",
            slapd.passwords["alice"],
            url=f"ldaps://localhost:{slapd.ldaps_port}",
        )


async def test_start_tls(slapd: Slapd) -> None:
    me = await login(slapd, "alice", slapd.passwords["alice"], start_tls=True)
    assert me is not None and me.is_admin is False
    assert await login(slapd, "alice", "wrong", start_tls=True) is None


async def test_start_tls_verifying_without_the_ca_is_unavailable(slapd: Slapd) -> None:
    with pytest.raises(IdentityProviderUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await login(slapd, "alice", slapd.passwords["alice"], start_tls=True, ca_file=None)


async def test_missing_ca_file_is_unavailable(slapd: Slapd) -> None:
    with pytest.raises(IdentityProviderUnavailable):
        await login(
            slapd,
            "alice",
            slapd.passwords["alice"],
            url=slapd.ldaps_url,
            ca_file="/nonexistent/ca.pem",
        )


async def test_unreachable_port_is_unavailable_quickly(slapd: Slapd) -> None:
    started = time.monotonic()
    with pytest.raises(IdentityProviderUnavailable) as err:
        await login(slapd, "alice", slapd.passwords["alice"], url=f"ldap://127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 3
    assert slapd.passwords["alice"] not in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


async def test_directory_that_never_answers_times_out(slapd: Slapd, silent_listener: int) -> None:
    started = time.monotonic()
    with pytest.raises(IdentityProviderUnavailable, match="timed out"):
        await login(
            slapd,
            "alice",
            slapd.passwords["alice"],
            url=f"ldap://127.0.0.1:{silent_listener}",
            timeout_seconds=0.5,
        )
    assert time.monotonic() - started < 5


async def test_ldaps_handshake_that_never_answers_times_out(
    slapd: Slapd, silent_listener: int
) -> None:
    started = time.monotonic()
    with pytest.raises(IdentityProviderUnavailable):
        await login(
            slapd,
            "alice",
            slapd.passwords["alice"],
            url=f"ldaps://127.0.0.1:{silent_listener}",
            timeout_seconds=0.5,
        )
    assert time.monotonic() - started < 5


async def test_concurrent_logins(slapd: Slapd) -> None:
    import asyncio

    auth = LdapAuthenticator(slapd.settings(admin_group="registry-admins"))
    results = await asyncio.gather(
        *(auth.authenticate(u, slapd.passwords[u]) for u in ("alice", "bob", "carol") * 5),
        auth.authenticate("alice", "wrong"),
    )
    assert [r.username if r else None for r in results] == ["alice", "bob", "carol"] * 5 + [None]


async def test_username_is_the_directory_spelling(slapd: Slapd) -> None:
    # uid matches case-insensitively; the identity carries the directory's value
    me = await login(slapd, "ALICE", slapd.passwords["alice"])
    assert me is not None and me.username == "alice" and me.subject == slapd.user_dn("alice")
