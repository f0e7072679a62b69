"""The test capability's table (tests/inprocess/test_capabilities.py).

Revision ID: notes_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notes_0001"
down_revision = None
branch_labels = ("notes",)
depends_on = "0005"


def upgrade() -> None:
    op.create_table(
        "notes_seen",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("what", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notes_seen")
