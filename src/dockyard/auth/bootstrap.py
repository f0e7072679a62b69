"""The first system administrator, created when a server starts on an empty database."""

from __future__ import annotations

import secrets

from dockyard.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from dockyard.errors import ConfigError, Conflict
from dockyard.metadata.identity_stores import UserStore

ADMIN_PASSWORD_ENV = "DOCKYARD_ADMIN_PASSWORD"


async def ensure_admin(identity: UserStore, username: str, password: str | None) -> str | None:
    """Create `username` as administrator if the server has no users at all. Returns the
    generated password when none was given (to be shown once), else None."""
    if await identity.count_users() > 0:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(18)
    elif len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"{ADMIN_PASSWORD_ENV} must be at least {MIN_PASSWORD_LENGTH} characters long"
        )
    try:
        await identity.create_user(
            username, source="local", password_hash=hash_password(password), is_admin=True
        )
    except Conflict:
        return None  # another replica created it first
    return generated
