"""What an external identity provider (LDAP, OIDC) tells us about a person."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    username: str
    email: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)
    is_admin: bool = False
    """the provider placed the person in its configured admin group"""
    subject: str | None = None
    """the provider's stable id (LDAP DN, OIDC `sub`)"""


class IdentityProviderUnavailable(Exception):
    """The directory or provider could not be reached or answered wrongly (not: bad password)."""
