"""The capability's own tables (its Alembic branch "retention", migrations/)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# projects.id is the core's (metadata/schema.py): named here for the DDL only
immutability_rules = Table(
    "immutability_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False, index=True),
    Column("repository", String(255), nullable=False),  # a glob of full repository names
    Column("tag", String(128), nullable=False),  # a glob of tags
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "repository", "tag", name="uq_immutability_rules"),
)

retention_policies = Table(
    "retention_policies",
    metadata,
    Column("project_id", Integer, primary_key=True),
    Column("policy", Text, nullable=False),  # RetentionPolicy as JSON
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
