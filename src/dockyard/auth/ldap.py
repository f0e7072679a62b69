"""Bind + search login against an LDAP directory (ldap3).

1. connect (ldaps://, or ldap:// upgraded with StartTLS when configured) and bind
   as the search account (`bind_dn`), or anonymously when it is unset;
2. search `user_base_dn` with `user_filter`, the username escaped: exactly one
   entry must match;
3. bind as that entry's DN with the password, on a connection of its own;
4. search `group_base_dn` with `group_filter` (the DN and the username escaped)
   on the search connection, and collect `group_name_attribute`.

A wrong password, an unknown user or a username that matches several entries is
a failed login (`None`). An unreachable directory, a timeout, a TLS failure, a
rejected search account or a missing base DN is not the user's fault: it raises
`IdentityProviderUnavailable` with a one-line message (never a password).

ldap3 is synchronous: each login runs in a worker thread.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import math
import re
import ssl
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from dockyard.auth.identity import ExternalIdentity, IdentityProviderUnavailable
from dockyard.config.auth import LdapSettings

# bind results that mean "these credentials do not log in" (RFC 4511 result codes):
# constraintViolation (locked by ppolicy), inappropriateAuthentication,
# invalidCredentials, insufficientAccessRights, unwillingToPerform
_REJECTED_BIND = frozenset({19, 48, 49, 50, 53})
_SUCCESS, _SIZE_LIMIT_EXCEEDED = 0, 4
_PLACEHOLDER = re.compile(r"\{(username|user_dn)\}")


def _fill(template: str, values: dict[str, str]) -> str:
    """Substitute {username} / {user_dn} in a filter, each value escaped, in one pass."""
    return _PLACEHOLDER.sub(lambda m: escape_filter_chars(values[m.group(1)]), template)


def _values(attributes: dict[str, Any], name: str) -> list[str]:
    value = attributes.get(name)
    values = value if isinstance(value, list | tuple) else [] if value is None else [value]
    out = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return [v for v in out if v]


def _first(attributes: dict[str, Any], name: str) -> str | None:
    values = _values(attributes, name)
    return values[0] if values else None


def _close(conn: Any) -> None:
    """Unbind, ignoring a connection that is already broken (its error is the one to report)."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()


_PEER_CERTIFICATE = re.compile(r"certificate \{.*\} doesn't match")


def _unwrap(detail: str) -> str:
    """ldap3 nests messages as reprs of 1-tuples and dumps whole certificates: tidy up."""
    for _ in range(3):
        if not (detail.startswith("(") and detail.endswith(",)")):
            break
        try:
            inner = ast.literal_eval(detail)
        except (ValueError, SyntaxError):
            break
        if not (isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], str)):
            break
        detail = inner[0]
    return _PEER_CERTIFICATE.sub("certificate of the server doesn't match", detail)


class _Unavailable(Exception):
    """Internal: the directory failed; carries the message before redaction."""


class LdapAuthenticator:
    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        """The person `username` is, if `password` is theirs; None for a failed login."""
        if not username or not password:
            # an empty password would be an unauthenticated bind, which "succeeds"
            return None
        return await asyncio.to_thread(self._authenticate, username, password)

    # -- synchronous work (worker thread) ------------------------------------

    def _authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        try:
            return self._login(username, password)
        except (_Unavailable, LDAPException, OSError) as exc:
            raise IdentityProviderUnavailable(self._describe(exc, password)) from None

    def _describe(self, exc: Exception, password: str) -> str:
        detail = _unwrap(str(exc))
        if not isinstance(exc, _Unavailable):
            detail = f"{type(exc).__name__}: {detail}"
        secrets = [password]
        if self.settings.bind_password is not None:
            secrets.append(self.settings.bind_password.get_secret_value())
        for secret in secrets:
            if secret:
                detail = detail.replace(secret, "***")
        line = " ".join(detail.split())
        if len(line) > 300:
            line = line[:297] + "..."
        return f"LDAP directory {self.settings.url}: {line}"

    def _server(self) -> Any:
        s = self.settings
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if s.verify_tls else ssl.CERT_NONE,
            ca_certs_file=str(s.ca_file) if s.ca_file is not None else None,
        )
        return ldap3.Server(s.url, tls=tls, connect_timeout=s.timeout_seconds, get_info=ldap3.NONE)

    def _connect(self, server: Any, user: str | None, password: str | None) -> tuple[Any, bool]:
        """A connection bound as `user` (anonymous when None), and whether the bind took."""
        conn = ldap3.Connection(
            server,
            user=user,
            password=password,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds
            receive_timeout=max(1, math.ceil(self.settings.timeout_seconds)),
            auto_referrals=False,
            read_only=True,
            raise_exceptions=False,
        )
        try:
            conn.open(read_server_info=False)
            tls_upgrade = self.settings.start_tls and not server.ssl
            if tls_upgrade and not conn.start_tls(read_server_info=False):
                raise _Unavailable(f"StartTLS failed: {conn.last_error or conn.result}")
            bound = bool(conn.bind(read_server_info=False))
        except BaseException:
            _close(conn)
            raise
        return conn, bound

    def _search(self, conn: Any, base: str, query: str, attributes: list[str], limit: int) -> Any:
        conn.search(base, query, ldap3.SUBTREE, attributes=attributes, size_limit=limit)
        code = conn.result.get("result")
        if code not in (_SUCCESS, _SIZE_LIMIT_EXCEEDED):
            description = conn.result.get("description")
            raise _Unavailable(f"search in {base!r} failed: {description} ({code})")
        return [r for r in conn.response or () if r.get("type") == "searchResEntry"]

    def _login(self, username: str, password: str) -> ExternalIdentity | None:
        s = self.settings
        server = self._server()
        bind_password = None
        if s.bind_dn is not None and s.bind_password is not None:
            bind_password = s.bind_password.get_secret_value()
        search, bound = self._connect(server, s.bind_dn, bind_password)
        try:
            if not bound:
                who = s.bind_dn or "anonymous"
                description = search.result.get("description")
                raise _Unavailable(f"search account {who!r} bind rejected: {description}")
            attributes = [s.username_attribute, s.email_attribute]
            query = _fill(s.user_filter, {"username": username})
            entries = self._search(search, s.user_base_dn, query, attributes, limit=2)
            if len(entries) != 1:
                return None  # unknown, or ambiguous
            user_dn: str = entries[0]["dn"]
            found = entries[0].get("attributes") or {}
            if not self._password_ok(server, user_dn, password):
                return None
            # the directory's spelling of the name typed; of a multi-valued one, that value
            names = _values(found, s.username_attribute)
            typed = [n for n in names if n.casefold() == username.casefold()]
            name = (typed or names or [username])[0]
            groups = self._groups(search, user_dn, name)
        finally:
            _close(search)
        admin = s.admin_group is not None and s.admin_group.casefold() in {
            g.casefold() for g in groups
        }
        return ExternalIdentity(
            username=name,
            email=_first(found, s.email_attribute),
            groups=groups,
            is_admin=admin,
            subject=user_dn,
        )

    def _password_ok(self, server: Any, user_dn: str, password: str) -> bool:
        conn, bound = self._connect(server, user_dn, password)
        try:
            if bound:
                return True
            code = conn.result.get("result")
            if code in _REJECTED_BIND:
                return False
            description = conn.result.get("description")
            raise _Unavailable(f"user bind failed: {description} ({code})")
        finally:
            _close(conn)

    def _groups(self, conn: Any, user_dn: str, username: str) -> tuple[str, ...]:
        s = self.settings
        if s.group_base_dn is None:
            return ()
        query = _fill(s.group_filter, {"username": username, "user_dn": user_dn})
        entries = self._search(conn, s.group_base_dn, query, [s.group_name_attribute], 0)
        names = {_first(e.get("attributes") or {}, s.group_name_attribute) for e in entries}
        return tuple(sorted(n for n in names if n))
