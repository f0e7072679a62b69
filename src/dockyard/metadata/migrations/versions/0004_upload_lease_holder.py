"""Uploads record who holds their lease, so a holder known to be dead is taken over
at once instead of after the lease runs out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("lease_holder")
