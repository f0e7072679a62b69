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
    text,
)

# The Alembic revision this code was written against; the server refuses any other.
SCHEMA_REVISION = "0009"

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
    # the last write that made the blob referenced or was about to (an upload finishing,
    # a link); GC leaves a blob touched within its grace period alone (0006)
    Column("touched_at", DateTime(timezone=True)),
    # set by the GC pass that claimed the blob for deletion: from then on no write may
    # link it (it waits for the row to go); the bytes are deleted, then the row (0006)
    Column("deleting_since", DateTime(timezone=True)),
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
    # the last time a push linked it (a re-push or mount refreshes it): the grace
    # period of an unreferenced link counts from here (0006)
    Column("touched_at", DateTime(timezone=True)),
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
    # a repository's artifacts newest first, its last push (0008)
    Index("ix_manifests_created", "repository_id", "created_at"),
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
    # a repository's tags by when they moved; the tags of one manifest (0008)
    Index("ix_tags_updated", "repository_id", "updated_at", "name"),
    Index("ix_tags_manifest", "repository_id", "manifest_digest"),
)

# Pulls per artifact (0007): counted in memory by each process, added here in one
# transaction every few seconds (registry/pulls.py). Goes with its manifest.
artifact_pulls = Table(
    "artifact_pulls",
    metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("digest", String(150), primary_key=True),
    Column("pull_count", BigInteger, nullable=False),
    Column("last_pulled_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["repository_id", "digest"],
        ["manifests.repository_id", "manifests.digest"],
        ondelete="CASCADE",
        name="fk_artifact_pulls_manifest",
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

# -- web UI sessions (0009) ----------------------------------------------------------
# A session cookie is signed and names one row here, by the SHA-256 of its random id:
# signing out deletes the row, so the cookie is refused from then on.
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)
Index("ix_user_sessions_user", user_sessions.c.user_id)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# -- background jobs and the event outbox (0005) --------------------------------

_BIGID = BigInteger().with_variant(Integer, "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("kind", String(128), nullable=False),
    Column("payload", Text, nullable=False),  # JSON object
    # queued, running, succeeded, failed, cancelled
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("dedup_key", String(255)),
    # an enqueue with this job's dedup key arrived while it ran: queue it again after
    Column("rerun", Boolean, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("run_after", DateTime(timezone=True), nullable=False),
    Column("lease_holder", String(255)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("result", Text),  # JSON object
    Column("schedule", String(128)),  # the schedule that enqueued it
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_jobs_claim", "state", "run_after"),
    Index("ix_jobs_kind", "kind", "id"),
    Index("ix_jobs_finished", "finished_at"),
    # at most one queued-or-running job per dedup key
    Index(
        "ux_jobs_dedup_active",
        "dedup_key",
        unique=True,
        sqlite_where=text("state IN ('queued', 'running')"),
        postgresql_where=text("state IN ('queued', 'running')"),
    ),
)

job_log = Table(
    "job_log",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("job_id", _BIGID, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_job_log_job", "job_id", "id"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("cron", String(128), nullable=False),
    Column("kind", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # an operator changed cron or enabled: the code's default no longer overwrites it
    Column("custom", Boolean, nullable=False),
    Column("next_run_at", DateTime(timezone=True), nullable=False),
    Column("last_run_at", DateTime(timezone=True)),
    Column("last_job_id", _BIGID),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    # commit order, given by the relay; NULL until relayed
    Column("seq", _BIGID, unique=True),
    Column("kind", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("repository", String(255)),
    Column("project", String(255)),
    Column("digest", String(150)),
    Column("tag", String(128)),
    Column("media_type", String(255)),
    Column("actor", String(255)),
    Column("detail", Text),  # JSON object
    Index(
        "ix_events_unrelayed",
        "id",
        sqlite_where=text("seq IS NULL"),
        postgresql_where=text("seq IS NULL"),
    ),
    Index("ix_events_at", "at"),
)

event_consumers = Table(
    "event_consumers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", _BIGID, nullable=False),  # the last seq handled
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# -- garbage collection (0006) ----------------------------------------------------

gc_runs = Table(
    "gc_runs",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("state", String(16), nullable=False),  # running, succeeded, failed
    Column("dry_run", Boolean, nullable=False),
    Column("trigger", String(32), nullable=False),  # cli, api, schedule
    Column("options", Text, nullable=False),  # JSON: grace_seconds, delete_untagged
    Column("report", Text),  # JSON: what went (or would go) and the bytes freed
    Column("error", Text),
    Index("ix_gc_runs_started", "started_at"),
)
