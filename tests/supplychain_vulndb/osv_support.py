"""Building OSV records, folders and zips (as OSV publishes them) for the tests."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

DATASET = Path(__file__).parent.parent / "support" / "osv"


def record(
    id: str,
    ecosystem: str,
    name: str,
    *ranges: dict[str, Any],
    modified: str = "2024-01-01T00:00:00Z",
    versions: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    affected["ranges"] = list(ranges)
    if versions is not None:
        affected["versions"] = versions
    return {"id": id, "modified": modified, "affected": [affected], **extra}


def ecosystem_range(*events: tuple[str, str], type: str = "ECOSYSTEM") -> dict[str, Any]:
    return {"type": type, "events": [{kind: at} for kind, at in events]}


def dump(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec).encode()


def write_folder(root: Path, records: dict[str, dict[str, Any]]) -> Path:
    """`records` by relative path ("PyPI/X.json")."""
    for rel, rec in records.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dump(rec))
    return root


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def dataset_as_zips(root: Path) -> Path:
    """The shipped dataset as OSV's bucket lays it out: <Ecosystem>/all.zip."""
    for eco in sorted(p for p in DATASET.iterdir() if p.is_dir()):
        members = {f.name: f.read_bytes() for f in sorted(eco.glob("*.json"))}
        (root / eco.name).mkdir(parents=True)
        (root / eco.name / "all.zip").write_bytes(zip_bytes(members))
    return root


def dataset_copy(root: Path) -> Path:
    shutil.copytree(DATASET, root, ignore=shutil.ignore_patterns("*.md"))
    return root
