"""Login throttling per account and address with backoff; case-insensitive user names.

`login_failures` (one row per failure, counted after the fact) gives way to
`login_throttle` (one counter row per key, counted and checked in one statement).
User names become unique regardless of case; a database that already holds two
names differing only in case is refused with the names to resolve.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1"
            )
        )
        .scalars()
        .all()
    )
    if clashes:
        raise RuntimeError(
            "user names must be unique regardless of case, but these differ only in case: "
            f"{', '.join(sorted(clashes)[:20])}; delete or rename one of each, then migrate"
        )
    op.create_index("ux_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("blocked_until", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.create_table(
        "login_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_login_failures_key_at", "key", "at"),
    )
    op.drop_index("ux_users_username_lower", table_name="users")
