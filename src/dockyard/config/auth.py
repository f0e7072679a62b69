"""The `auth` section of the settings tree: accounts, tokens, LDAP, OIDC, login limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenSettings(_Section):
    """Docker token authentication (bearer JWTs the token endpoint issues)."""

    service: str = Field("dockyard", description="the `service` clients ask tokens for")
    issuer: str = Field("dockyard", description="`iss` of issued tokens")
    algorithm: Literal["ES256", "RS256"] = "ES256"
    expiry_seconds: int = Field(300, ge=30, le=24 * 3600)
    refresh_expiry_hours: float = Field(
        720.0, gt=0, description="lifetime of `docker login` refresh tokens"
    )
    private_key_file: Path | None = Field(
        None,
        description="PEM private key that signs tokens; default: one generated on first "
        "start and kept in the metadata database, so every replica shares it",
    )
    realm: str | None = Field(
        None,
        description="absolute URL of the token endpoint announced in WWW-Authenticate; "
        "default: server.public_url (or the request's own host) + /auth/token",
    )


class LdapSettings(_Section):
    """Bind + search login against an LDAP directory (ldap3)."""

    enabled: bool = False
    url: str = Field("ldap://127.0.0.1:389", description="ldap:// or ldaps:// (TLS)")
    start_tls: bool = Field(False, description="upgrade an ldap:// connection with StartTLS")
    verify_tls: bool = True
    ca_file: Path | None = Field(None, description="CA bundle for the directory's certificate")
    bind_dn: str | None = Field(None, description="search account; anonymous search if unset")
    bind_password: SecretStr | None = None
    user_base_dn: str = "ou=people,dc=example,dc=org"
    user_filter: str = Field(
        "(uid={username})", description="search filter; {username} is escaped before use"
    )
    username_attribute: str = "uid"
    email_attribute: str = "mail"
    group_base_dn: str | None = Field(None, description="where groups live; no groups if unset")
    group_filter: str = Field(
        "(|(member={user_dn})(uniqueMember={user_dn})(memberUid={username}))",
        description="groups of a user; {user_dn} and {username} are escaped before use",
    )
    group_name_attribute: str = "cn"
    admin_group: str | None = Field(None, description="members become system administrators")
    timeout_seconds: float = Field(5.0, gt=0)


class OidcSettings(_Section):
    """OpenID Connect authorization-code login (authlib) for the web UI and the CLI secret."""

    enabled: bool = False
    issuer: str = Field(
        "", description="provider URL; discovery at /.well-known/openid-configuration"
    )
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    redirect_url: str | None = Field(
        None, description="default: server.public_url + /auth/oidc/callback"
    )
    scopes: list[str] = ["openid", "profile", "email", "groups"]
    username_claim: str = "preferred_username"
    email_claim: str = "email"
    groups_claim: str = "groups"
    admin_group: str | None = Field(None, description="members become system administrators")
    verify_tls: bool = True
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> OidcSettings:
        if self.enabled and not (self.issuer and self.client_id):
            raise ValueError("oidc.enabled needs oidc.issuer and oidc.client_id")
        return self


class LoginLimits(_Section):
    """Failed logins are throttled per account *and* client address, with backoff: a
    stranger's failures never lock an account for the people who know its password.
    Each key gets a number of free failures, then waits `backoff_seconds`, doubling per
    further failure up to `max_backoff_seconds` (429 with Retry-After meanwhile)."""

    max_failures: int = Field(
        10, ge=1, description="free failures per account at one client address"
    )
    max_failures_per_address: int = Field(
        50,
        ge=1,
        description="free failures per client address across accounts (higher: many "
        "people may share one NAT)",
    )
    backoff_seconds: float = Field(1.0, gt=0, description="first wait once the free ones are used")
    max_backoff_seconds: float = Field(300.0, gt=0, description="longest wait")
    window_seconds: float = Field(900.0, gt=0, description="failures older than this are forgotten")
    hash_concurrency: int = Field(
        2,
        ge=1,
        le=64,
        description="password hashes (Argon2) computed at once per worker, in their own "
        "threads, so a login storm never takes the threads blob reads and hashing use",
    )
    hash_queue: int = Field(
        64, ge=1, description="logins that may wait for a hashing thread before 429"
    )

    @model_validator(mode="after")
    def _window_covers_backoff(self) -> LoginLimits:
        if self.window_seconds < self.max_backoff_seconds:
            raise ValueError("login.window_seconds must be at least login.max_backoff_seconds")
        return self


class AuditSettings(_Section):
    retention_days: float = Field(90.0, gt=0, description="older audit entries are purged")
    log_pulls: bool = Field(True, description="record manifest pulls (GET), not only changes")


class AuthSettings(_Section):
    admin_username: str = Field("admin", min_length=1, max_length=64)
    anonymous_pull: bool = Field(
        True, description="anonymous clients may pull from public projects"
    )
    auto_create_projects: bool = Field(
        True,
        description="a push by a system administrator (or a system robot covering every "
        "project) into a project that does not exist creates it, private",
    )
    token: TokenSettings = TokenSettings()
    ldap: LdapSettings = LdapSettings()
    oidc: OidcSettings = OidcSettings()
    login: LoginLimits = LoginLimits()
    audit: AuditSettings = AuditSettings()
