"""Secrets a policy must be able to use again (its HMAC key, the endpoint's
Authorization value, a URL that may hold credentials) are stored sealed with
Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`); the API never returns them.

The key is `webhooks.seal_key` when configured (from a secret store, so that the
database alone does not reveal the secrets), else one generated into the metadata
database's server secrets, shared by every replica: that keeps them out of the
webhook tables, query logs and API answers, not from someone holding the whole
database."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from dockyard.jobs import PermanentFailure
from dockyard.metadata.identity_stores import SecretStore

KEY_NAME = "webhooks-seal-key"


class Sealer:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @classmethod
    async def from_secrets(cls, secrets: SecretStore, configured: str | None = None) -> Sealer:
        if configured is not None:
            return cls(configured)
        key = await secrets.get_secret(KEY_NAME)
        if key is None:
            key = await secrets.get_or_create_secret(KEY_NAME, Fernet.generate_key().decode())
        return cls(key)

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise PermanentFailure(
                "a webhook's secrets do not open with this key (was webhooks.seal_key "
                "changed?): set the webhook's secret, URL and auth header again"
            ) from None
