"""The proxy cache's tables (branch "proxy"): the caches and the download leases."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Float, MetaData, String, Table, Text

metadata = MetaData()

proxy_caches = Table(
    "proxy_caches",
    metadata,
    Column("project", String(255), primary_key=True),
    Column("endpoint", String(255), nullable=False),
    Column("upstream_prefix", String(255), nullable=False),
    Column("mirror_hosts", Text, nullable=False),
    Column("tag_ttl_seconds", Float, nullable=False),
    Column("negative_ttl_seconds", Float, nullable=False),
    Column("size_limit_bytes", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

proxy_leases = Table(
    "proxy_leases",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)
