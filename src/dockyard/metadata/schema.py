"""Tables, as SQLAlchemy Core. Alembic migrations create them; this mirrors the head."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

# The Alembic revision this code was written against; the server refuses any other.
SCHEMA_REVISION = "0004"

metadata = MetaData()

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the project the first path component names (no FK: added by ALTER on SQLite)
    Column("project_id", Integer, index=True),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(150), ForeignKey("blobs.digest"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_repository_blobs_digest", "digest"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("digest", String(150), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject_digest", String(150)),
    Column("annotations", Text),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
    Index("ix_manifests_subject", "repository_id", "subject_digest"),
)

manifest_references = Table(
    "manifest_references",
    metadata,
    Column(
        "manifest_id",
        Integer,
        ForeignKey("manifests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(150), primary_key=True),
    # "blob" (config, layer) or "manifest" (an index's child)
    Column("kind", String(16), nullable=False),
    Index("ix_manifest_references_digest", "digest"),
)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("manifest_digest", String(150), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["repository_id", "manifest_digest"],
        ["manifests.repository_id", "manifests.digest"],
        ondelete="CASCADE",
        name="fk_tags_manifest",
    ),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("offset", BigInteger, nullable=False),
    # A writer holds the upload until this time; stops two PATCHes interleaving.
    Column("lease_until", DateTime(timezone=True)),
    # who holds it (registry.holders): a holder known to be dead is taken over at once (0004)
    Column("lease_holder", String(255)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- identity and access (0002) -------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(255), nullable=False, unique=True),
    Column("email", String(255)),
    # "local" (password), "ldap" (directory bind) or "oidc" (CLI secret)
    Column("source", String(16), nullable=False),
    Column("password_hash", String(255)),
    Column("cli_secret_hash", String(128)),
    Column("is_admin", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("groups", Text, nullable=False),  # JSON list, as the provider last said
    Column("subject", String(512)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True)),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("public", Boolean, nullable=False),
    Column("quota_bytes", BigInteger),
    # bytes of distinct blobs linked to any repository of the project
    Column("used_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),  # "user" or "group"
    Column("name", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("repositories", Text),  # JSON list of globs inside the project; NULL = all
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "kind", "name", name="uq_members_project_kind_name"),
    Index("ix_members_name", "kind", "name"),
)

robots = Table(
    "robots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE")),
    Column("description", String(1024), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("permissions", Text, nullable=False),  # JSON list of grants
    Column("expires_at", DateTime(timezone=True)),
    Column("disabled", Boolean, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(255), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("address", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", String(512), nullable=False),
    Column("project", String(255), index=True),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_audit_log_actor", "actor", "at"),
)

# -- login throttling and case-insensitive user names (0003) --------------------

# One row per throttled key (an account at an address, or an address): failures in
# the current window and, as epoch seconds, the last attempt and the end of the
# backoff. Counting and the blocked check happen in one UPDATE, so concurrent bad
# logins cannot all get past the limit before any of them is counted.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_at", Float, nullable=False),
    Column("blocked_until", Float, nullable=False),
)

Index("ux_users_username_lower", func.lower(users.c.username), unique=True)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
