"""Identity and access: users, projects, members, robots, audit log, secrets.

Every existing repository joins the project its first path component names
(created private, so only administrators see it until members are added).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False, unique=True),
        sa.Column("email", sa.String(255)),
        # "local" (password), "ldap" (directory bind) or "oidc" (CLI secret)
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("cli_secret_hash", sa.String(128)),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("groups", sa.Text, nullable=False),  # JSON list, as the provider last said
        sa.Column("subject", sa.String(512)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_login_at", TS),
    )

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("quota_bytes", sa.BigInteger),
        # bytes of distinct blobs linked to any repository of the project
        sa.Column("used_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "members",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(8), nullable=False),  # "user" or "group"
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("repositories", sa.Text),  # JSON list of globs inside the project; NULL = all
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "kind", "name", name="uq_members_project_kind_name"),
        sa.Index("ix_members_name", "kind", "name"),
    )

    op.create_table(
        "robots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE")),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("permissions", sa.Text, nullable=False),  # JSON list of grants
        sa.Column("expires_at", TS),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("project", sa.String(255), index=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Index("ix_audit_log_actor", "actor", "at"),
    )

    op.create_table(
        "login_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Index("ix_login_failures_key_at", "key", "at"),
    )

    op.create_table(
        "secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.add_column("repositories", sa.Column("project_id", sa.Integer))
    op.create_index("ix_repositories_project_id", "repositories", ["project_id"])
    _assign_projects()


def _assign_projects() -> None:
    conn = op.get_bind()
    names = [row[0] for row in conn.execute(sa.text("SELECT name FROM repositories"))]
    now = dt.datetime.now(dt.UTC)
    for project in sorted({name.split("/", 1)[0] for name in names}):
        conn.execute(
            sa.text(
                "INSERT INTO projects (name, public, used_bytes, created_at, updated_at) "
                "VALUES (:name, :public, 0, :now, :now)"
            ),
            {"name": project, "public": False, "now": now},
        )
    for name in names:
        conn.execute(
            sa.text(
                "UPDATE repositories SET project_id = "
                "(SELECT id FROM projects WHERE name = :project) WHERE name = :name"
            ),
            {"project": name.split("/", 1)[0], "name": name},
        )
    conn.execute(
        sa.text(
            "UPDATE projects SET used_bytes = COALESCE((SELECT SUM(b.size) FROM blobs b "
            "WHERE b.digest IN (SELECT rb.digest FROM repository_blobs rb JOIN repositories r "
            "ON r.id = rb.repository_id WHERE r.project_id = projects.id)), 0)"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_repositories_project_id", "repositories")
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("project_id")
    for table in (
        "secrets",
        "login_failures",
        "audit_log",
        "robots",
        "members",
        "projects",
        "users",
    ):
        op.drop_table(table)
