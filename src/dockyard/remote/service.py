"""The stored registry endpoints, the domain service: what an endpoint may say (an
http(s) URL with a host and nothing else, a known kind, a PEM bundle that loads),
encrypting its secret, the audit trail of changes (system administrators only), the
health check, and the `Endpoints` replication and the proxy cache read: endpoints
with their secrets decrypted, and one client per endpoint shared while it is
unchanged.

`endpoints(services)` gives the one EndpointService of a Services (kept in
`services.extensions["registries"]`, with its clients)."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dockyard.accounts.guard import Actor
from dockyard.errors import InvalidRequest, NotFound
from dockyard.remote import KINDS, Endpoint, Health, Remote, RemoteError
from dockyard.remote.client import HttpRemote
from dockyard.remote.keys import Sealer
from dockyard.remote.settings import RegistriesSettings
from dockyard.remote.store import EndpointRow, EndpointStore

if TYPE_CHECKING:
    from dockyard.context import Services

NAME = "registries"
RETIRED_GRACE_SECONDS = 600.0
"""a replaced client is closed this long after (transfers in flight finish on it)"""
UNCHANGED: Any = object()

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://"
    rf"{_LABEL}(\.{_LABEL})*"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
    r"/?$"
)
"""scheme://host[:port]: no user:password@ (the credentials are fields of their own),
no path, query or fragment"""
USERNAME_PATTERN = r"^[^\x00-\x1f\x7f:]+$"
SECRET_PATTERN = r"^[^\x00-\x1f\x7f]+$"
MAX_CA_BYTES = 256 * 1024


class InvalidEndpoint(InvalidRequest):
    pass


def check_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name):
        raise InvalidEndpoint(
            "an endpoint name is 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_url(url: str) -> str:
    """The URL as stored: scheme lowercased, no trailing slash."""
    if len(url) > 2048 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise InvalidEndpoint("the URL is too long or has spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidEndpoint("the URL is not valid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidEndpoint("the URL must be http:// or https://")
    if "@" in parts.netloc:
        raise InvalidEndpoint("the URL may not hold credentials: use username and password")
    if not parts.hostname:
        raise InvalidEndpoint("the URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InvalidEndpoint("the URL is scheme://host[:port] only: no path or query")
    if not re.match(URL_PATTERN, url):
        raise InvalidEndpoint(
            "the URL should be http(s)://host[:port] with a host name or IPv4 address"
        )
    return f"{parts.scheme.lower()}://{parts.netloc}"


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidEndpoint(f"unknown kind {kind[:32]!r}: one of {', '.join(KINDS)}")
    return kind


def check_ca(pem: str) -> str:
    if len(pem.encode()) > MAX_CA_BYTES:
        raise InvalidEndpoint(f"the CA certificate is larger than {MAX_CA_BYTES} bytes")
    try:
        ssl.create_default_context().load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise InvalidEndpoint("the CA certificate is not a PEM certificate bundle") from None
    return pem


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    name: str
    url: str
    kind: str = "distribution"
    username: str | None = None
    secret: str | None = None
    insecure: bool = False
    ca_certificate: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """UNCHANGED leaves a field; None clears username, secret or ca_certificate."""

    url: str | None = None
    kind: str | None = None
    username: str | None = UNCHANGED
    secret: str | None = UNCHANGED
    insecure: bool | None = None
    ca_certificate: str | None = UNCHANGED
    description: str | None = None


def settings_of(services: Services) -> RegistriesSettings:
    found = getattr(services.settings, NAME, None)
    return found if isinstance(found, RegistriesSettings) else RegistriesSettings()


def endpoints(services: Services) -> EndpointService:
    """The EndpointService of `services` (made on first use, kept with them)."""
    found = services.extensions.get(NAME)
    if not isinstance(found, EndpointService):
        found = services.extensions[NAME] = EndpointService(services)
        services.closers.append(found.close)
    return found


class EndpointService:
    """Implements dockyard.remote.Endpoints, plus the management the API calls."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.settings = settings_of(services)
        self.store = EndpointStore(services.store)  # type: ignore[arg-type]
        self._sealer: Sealer | None = None
        self._clients: dict[str, tuple[Endpoint, HttpRemote]] = {}
        self._retired: set[HttpRemote] = set()
        self._closers: set[asyncio.Task[None]] = set()

    def sealer(self) -> Sealer:
        if self._sealer is None:
            key = self.settings.secret_key
            s = self._services.settings
            self._sealer = Sealer.from_settings(
                None if key is None else key.get_secret_value(), s.database_url, s.data_dir
            )
        return self._sealer

    def _endpoint(self, row: EndpointRow) -> Endpoint:
        secret = None
        if row.secret_sealed is not None:
            secret = self.sealer().open(row.secret_sealed, row.name)
        return Endpoint(
            name=row.name,
            url=row.url,
            kind=row.kind,
            username=row.username,
            secret=secret,
            insecure=row.insecure,
            ca_certificate=row.ca_certificate,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # -- Endpoints (replication, the proxy cache) ----------------------------------

    async def get(self, name: str) -> Endpoint:
        row = await self.store.get(name)
        if row is None:
            raise NotFound(f"registry endpoint {name!r} not found")
        return self._endpoint(row)

    async def list(self) -> list[Endpoint]:
        return [self._endpoint(row) for row in await self.store.list()]

    def remote(self, endpoint: Endpoint) -> Remote:
        held = self._clients.get(endpoint.name)
        if held is not None and held[0] == endpoint:
            return held[1]
        client = HttpRemote(
            endpoint,
            timeout=self.settings.timeout_seconds,
            manifest_limit=self._services.settings.registry.max_manifest_bytes,
        )
        self._clients[endpoint.name] = (endpoint, client)
        if held is not None:
            self._retire(held[1])
        return client

    def _retire(self, client: HttpRemote) -> None:
        self._retired.add(client)

        async def close_later() -> None:
            await asyncio.sleep(RETIRED_GRACE_SECONDS)
            self._retired.discard(client)
            await client.close()

        try:
            task = asyncio.get_running_loop().create_task(close_later())
        except RuntimeError:
            return  # no loop: close() takes it
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def close(self) -> None:
        """Close every client (the Services are closing)."""
        for task in [*self._closers]:
            task.cancel()
        clients = [c for _, c in self._clients.values()] + [*self._retired]
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()

    # -- management (system administrators) -----------------------------------------

    async def rows(self, actor: Actor) -> builtins.list[EndpointRow]:
        self._services.guard.admin(actor, "list registry endpoints")
        return await self.store.list()

    async def row(self, actor: Actor, name: str) -> EndpointRow:
        self._services.guard.admin(actor, "read registry endpoints")
        found = await self.store.get(name)
        if found is None:
            raise NotFound(f"registry endpoint {name!r} not found")
        return found

    async def create(self, actor: Actor, new: NewEndpoint) -> EndpointRow:
        self._services.guard.admin(actor, "add registry endpoints")
        values = {
            "name": check_name(new.name),
            "url": check_url(new.url),
            "kind": check_kind(new.kind),
            "username": new.username,
            "secret_sealed": None if new.secret is None else self.sealer().seal(new.secret),
            "insecure": new.insecure,
            "ca_certificate": None if new.ca_certificate is None else check_ca(new.ca_certificate),
            "description": new.description,
        }
        row = await self.store.create(values)
        await self._audit(actor, "registry.create", row)
        return row

    async def update(self, actor: Actor, name: str, changes: EndpointChanges) -> EndpointRow:
        row = await self.row(actor, name)
        values: dict[str, Any] = {}
        if changes.url is not None:
            values["url"] = check_url(changes.url)
        if changes.kind is not None:
            values["kind"] = check_kind(changes.kind)
        if changes.insecure is not None:
            values["insecure"] = changes.insecure
        if changes.description is not None:
            values["description"] = changes.description
        if changes.username is not UNCHANGED:
            values["username"] = changes.username
        if changes.secret is not UNCHANGED:
            secret = changes.secret
            values["secret_sealed"] = None if secret is None else self.sealer().seal(secret)
        if changes.ca_certificate is not UNCHANGED:
            ca = changes.ca_certificate
            values["ca_certificate"] = None if ca is None else check_ca(ca)
        if not values:
            return row
        updated = await self.store.update(name, values)
        if updated is None:
            raise NotFound(f"registry endpoint {name!r} not found")
        await self._audit(actor, "registry.update", updated, changed=sorted(values))
        return updated

    async def delete(self, actor: Actor, name: str) -> None:
        row = await self.row(actor, name)
        if not await self.store.delete(name):
            raise NotFound(f"registry endpoint {name!r} not found")
        held = self._clients.pop(name, None)
        if held is not None:
            self._retire(held[1])
        await self._audit(actor, "registry.delete", row)

    async def ping(self, actor: Actor, name: str) -> Health:
        """GET /v2/ with the endpoint's credentials, on a client of its own (a health
        check does not wait behind the shared pool, nor reuse its tokens)."""
        endpoint = self._endpoint(await self.row(actor, name))
        started = time.perf_counter()
        try:
            client = HttpRemote(endpoint, timeout=self.settings.ping_timeout_seconds)
        except RemoteError as exc:
            return Health(False, None, str(exc), 0.0)
        try:
            return await client.ping()
        except Exception as exc:  # a health check answers, it does not fail
            latency = (time.perf_counter() - started) * 1000
            return Health(False, None, f"{name}: {type(exc).__name__}", latency)
        finally:
            await client.close()

    async def rekey(self, actor: Actor) -> int:
        """Re-encrypt every stored secret with the first configured key."""
        self._services.guard.admin(actor, "re-encrypt registry secrets")
        sealer = self.sealer()
        count = 0
        for row in await self.store.list():
            if row.secret_sealed is None:
                continue
            rotated = sealer.rotate(row.secret_sealed, row.name)
            if rotated != row.secret_sealed:
                await self.store.update(row.name, {"secret_sealed": rotated})
                count += 1
        await self._services.guard.record(
            actor, "registry.rekey", "registries", detail={"reencrypted": count}
        )
        return count

    async def _audit(self, actor: Actor, action: str, row: EndpointRow, **extra: Any) -> None:
        detail = {
            "name": row.name,
            "url": row.url,
            "kind": row.kind,
            "username": row.username,
            "has_secret": row.secret_sealed is not None,
            "insecure": row.insecure,
            **extra,
        }
        await self._services.guard.record(actor, action, f"registries/{row.name}", detail=detail)
