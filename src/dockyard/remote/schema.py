"""The registries capability's table, as SQLAlchemy Core; its Alembic branch
("registries", migrations/) creates it and this mirrors its head. The secret is
stored Fernet-encrypted (`secret_sealed`), never in the clear."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

endpoints = Table(
    "registry_endpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", String(2048), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("username", String(255)),
    Column("secret_sealed", Text),
    Column("insecure", Boolean, nullable=False),
    Column("ca_certificate", Text),
    Column("description", String(1024), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
