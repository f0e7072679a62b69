"""Online garbage collection: when a write last made a blob or a link referenced
(touched_at), the claim a GC pass puts on a blob it is deleting (deleting_since),
and the reports of GC runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("touched_at", TS))
        batch.add_column(sa.Column("deleting_since", TS))
    with op.batch_alter_table("repository_blobs") as batch:
        batch.add_column(sa.Column("touched_at", TS))
    op.execute("UPDATE blobs SET touched_at = created_at")
    op.execute("UPDATE repository_blobs SET touched_at = created_at")
    op.create_table(
        "gc_runs",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("report", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_gc_runs_started", "gc_runs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_gc_runs_started", "gc_runs")
    op.drop_table("gc_runs")
    with op.batch_alter_table("repository_blobs") as batch:
        batch.drop_column("touched_at")
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("deleting_since")
        batch.drop_column("touched_at")
