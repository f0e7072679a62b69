"""The key the endpoints' secrets are encrypted with (Fernet: AES-128-CBC and
HMAC-SHA256, from `cryptography`).

`registries.secret_key` when configured: one key, or several comma-separated to rotate
(the first encrypts, each decrypts; `dockyard registry rekey` re-encrypts every
secret with the first). Without it, on the embedded SQLite database, one key is
generated into `<data_dir>/registries.key` (mode 0600) on first use and kept there
(it keeps decrypting after a key is configured, so moving to a configured key is
setting it and running `rekey`). On PostgreSQL without a configured key there is no
key: storing a secret is refused, since replicas share no data directory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from dockyard.errors import Conflict
from dockyard.metadata.engine import is_sqlite

KEY_FILE = "registries.key"


class NoSecretKey(Conflict):
    """No key to encrypt a secret with."""


class SecretUnreadable(Conflict):
    """A stored secret that none of the keys opens."""


def _file_key(path: Path, create: bool) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)  # atomic, and the first process to get there wins
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return path.read_text().strip() or None


class Sealer:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @classmethod
    def from_settings(cls, configured: str | None, database_url: str, data_dir: Path) -> Sealer:
        keys = [k.strip() for k in configured.split(",") if k.strip()] if configured else []
        embedded = is_sqlite(database_url)
        file_key = _file_key(data_dir / KEY_FILE, create=embedded and not keys)
        if file_key is not None and file_key not in keys:
            keys.append(file_key)
        return cls(keys)

    @property
    def can_seal(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str) -> str:
        if self._fernet is None:
            raise NoSecretKey(
                "no key to encrypt the endpoint's secret with: set registries.secret_key "
                "(DOCKYARD__REGISTRIES__SECRET_KEY) to a Fernet key"
            )
        return self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str, name: str) -> str:
        if self._fernet is None:
            raise SecretUnreadable(
                f"the secret of registry endpoint {name!r} cannot be decrypted: no key is "
                "configured (registries.secret_key)"
            )
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                f"the secret of registry endpoint {name!r} does not decrypt with the "
                "configured key (was registries.secret_key changed without keeping the old "
                "one after it?): set the endpoint's password again"
            ) from None

    def rotate(self, sealed: str, name: str) -> str:
        """`sealed` re-encrypted with the first key."""
        if self._fernet is None:
            raise NoSecretKey("no key configured (registries.secret_key)")
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                f"the secret of registry endpoint {name!r} does not decrypt with any key"
            ) from None
