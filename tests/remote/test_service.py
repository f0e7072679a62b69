"""EndpointService in-process, as replication and the proxy cache use it (embedded
SQLite): endpoints with their secrets decrypted, one client per unchanged endpoint,
a new one when it changes, a clear error when the key does not open a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dockyard.accounts.guard import Actor
from dockyard.auth.permissions import Principal
from dockyard.capabilities import REGISTERED
from dockyard.config import settings_model
from dockyard.context import Services
from dockyard.errors import NotFound
from dockyard.remote.keys import SecretUnreadable
from dockyard.remote.service import EndpointChanges, NewEndpoint, endpoints
from dockyard.services import build_services, prepare_database


async def _services(data_dir: Path, **settings: object) -> Services:
    config = settings_model(REGISTERED)(data_dir=data_dir, **settings)
    await prepare_database(config, migrate=True, admin_password="admin-password-1", bootstrap=True)
    return await build_services(config, None, REGISTERED)


def _admin() -> Actor:
    return Actor(Principal(name="admin", kind="user", is_admin=True))


async def test_endpoints_and_clients(tmp_path: Path) -> None:
    services = await _services(tmp_path / "data")
    service = endpoints(services)
    assert endpoints(services) is service
    await service.create(
        _admin(),
        NewEndpoint("hub", "https://docker.io", kind="dockerhub", username="me", secret="tok"),
    )
    hub = await service.get("hub")
    assert (hub.username, hub.secret, hub.kind) == ("me", "tok", "dockerhub")
    assert [e.name for e in await service.list()] == ["hub"]
    client = service.remote(hub)
    assert service.remote(await service.get("hub")) is client
    await service.update(_admin(), "hub", EndpointChanges(secret="tok2"))
    changed = await service.get("hub")
    assert changed.secret == "tok2" and changed.updated_at != hub.updated_at
    assert service.remote(changed) is not client
    with pytest.raises(NotFound):
        await service.get("nope")
    newest = service.remote(changed)
    await services.close()  # closes the clients, the retired one too
    assert client._client.is_closed and newest._client.is_closed  # type: ignore[attr-defined]


async def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    first = await _services(
        tmp_path / "data", registries={"secret_key": Fernet.generate_key().decode()}
    )
    try:
        await endpoints(first).create(
            _admin(), NewEndpoint("up", "https://up.example", secret="pw")
        )
    finally:
        await first.close()
    second = await _services(
        tmp_path / "data", registries={"secret_key": Fernet.generate_key().decode()}
    )
    try:
        with pytest.raises(SecretUnreadable, match="'up'"):
            await endpoints(second).get("up")
    finally:
        await second.close()
