"""The direction of imports, as docs/architecture.md draws it: the HTTP layer never
imports the app or the module that picks backends, the cache knows bytes and keys
but not metadata records, storage drivers receive their settings instead of reading
the configuration, and concrete backends are imported by services.py alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "dockyard"

# module -> the packages whose concrete backends it is (a backend may import its own kin)
BACKENDS = {
    "dockyard.storage.filesystem": "dockyard.storage",
    "dockyard.storage.s3": "dockyard.storage",
    "dockyard.storage.memory": "dockyard.storage",
    "dockyard.cache.local": "dockyard.cache",
    "dockyard.cache.redis": "dockyard.cache",
    "dockyard.metadata.sql": "dockyard.metadata",
    "dockyard.metadata.sql_identity": "dockyard.metadata",
    "dockyard.metadata.sql_gc": "dockyard.metadata",
}
# services.py picks the registry's own backends; a backup destination is a storage
# location the operator names on the command line (a folder or s3://), opened with
# the same drivers
MAY_CHOOSE_BACKENDS = {"dockyard.services", "dockyard.backup.destination"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every dockyard module `path` imports, at any depth (type-checking imports too)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name.startswith("dockyard")}


MODULES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _violations(importer_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for module, imported in MODULES.items():
        if module == importer_prefix or module.startswith(importer_prefix + "."):
            for name in sorted(imported):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    out.append(f"{module} imports {name}")
    return out


def test_the_suite_sees_the_package() -> None:
    assert "dockyard.http.dispatch" in MODULES and "dockyard.services" in MODULES


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("dockyard.http", ("dockyard.app", "dockyard.services")),
        ("dockyard.cache", ("dockyard.metadata",)),
        ("dockyard.storage", ("dockyard.config",)),
        ("dockyard.oci", ("dockyard.http", "dockyard.registry", "dockyard.metadata")),
        ("dockyard.registry", ("dockyard.http", "dockyard.accounts")),
        ("dockyard.accounts", ("dockyard.http",)),
    ],
)
def test_layers_point_one_way(importer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(importer, forbidden) == []


def test_only_services_picks_backends() -> None:
    out = []
    for module, imported in MODULES.items():
        if module in MAY_CHOOSE_BACKENDS:
            continue
        for name in imported:
            for backend, kin in BACKENDS.items():
                if (name == backend or name.startswith(backend + ".")) and not (
                    module.startswith(kin + ".")
                ):
                    out.append(f"{module} imports {name}")
    assert sorted(set(out)) == []
