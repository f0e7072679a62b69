"""Background jobs (queue, log, cron schedules) and the event outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("state IN ('queued', 'running')")
UNRELAYED = sa.text("seq IS NULL")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("dedup_key", sa.String(255)),
        sa.Column("rerun", sa.Boolean, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("run_after", TS, nullable=False),
        sa.Column("lease_holder", sa.String(255)),
        sa.Column("lease_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("schedule", sa.String(128)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_jobs_claim", "jobs", ["state", "run_after"])
    op.create_index("ix_jobs_kind", "jobs", ["kind", "id"])
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"])
    op.create_index(
        "ux_jobs_dedup_active",
        "jobs",
        ["dedup_key"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "job_log",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("job_id", BIGID, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_job_log_job", "job_log", ["job_id", "id"])
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("cron", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("custom", sa.Boolean, nullable=False),
        sa.Column("next_run_at", TS, nullable=False),
        sa.Column("last_run_at", TS),
        sa.Column("last_job_id", BIGID),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("seq", BIGID, unique=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("repository", sa.String(255)),
        sa.Column("project", sa.String(255)),
        sa.Column("digest", sa.String(150)),
        sa.Column("tag", sa.String(128)),
        sa.Column("media_type", sa.String(255)),
        sa.Column("actor", sa.String(255)),
        sa.Column("detail", sa.Text),
    )
    op.create_index(
        "ix_events_unrelayed", "events", ["id"], sqlite_where=UNRELAYED, postgresql_where=UNRELAYED
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("position", BIGID, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("event_consumers", "events", "schedules", "job_log", "jobs"):
        op.drop_table(table)
