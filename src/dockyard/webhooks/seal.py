"""Secrets a policy must be able to use again (its HMAC key, the endpoint's
Authorization value, a URL that may hold credentials) are stored sealed with
Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`), under a key every replica
shares through the metadata database's server secrets. A database dump alone does
not reveal them; the API never returns them."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from dockyard.metadata.identity_stores import SecretStore

KEY_NAME = "webhooks-seal-key"


class Sealer:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @classmethod
    async def from_secrets(cls, secrets: SecretStore) -> Sealer:
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
            raise ValueError("a sealed webhook secret does not open with this key") from None
