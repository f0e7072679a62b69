"""The identity stores on the SQLAlchemy engines of the registry metadata."""

from __future__ import annotations

from dockyard.cache.base import Cache
from dockyard.metadata.identity_cache import IdentityCache
from dockyard.metadata.identity_stores import Identity
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_audit import SqlAuditStore, SqlSecretStore
from dockyard.metadata.sql_base import SqlEngines
from dockyard.metadata.sql_catalog import SqlCatalogStore
from dockyard.metadata.sql_projects import SqlProjectStore
from dockyard.metadata.sql_robots import SqlRobotStore
from dockyard.metadata.sql_users import SqlUserStore


def sql_identity(store: SqlMetadataStore, cache: Cache | None = None) -> Identity:
    """Every identity store over `store`'s database, sharing one identity cache."""
    db = SqlEngines(store.read_engine, store.write_engine)
    held = IdentityCache(cache)
    return Identity(
        users=SqlUserStore(db, held),
        projects=SqlProjectStore(db, held),
        robots=SqlRobotStore(db, held),
        audit=SqlAuditStore(db),
        secrets=SqlSecretStore(db),
        catalog=SqlCatalogStore(db, held),
    )
