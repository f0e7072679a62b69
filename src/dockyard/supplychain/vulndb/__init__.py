"""The offline vulnerability database: OSV data imported from a folder or zip
(`dockyard vulndb import PATH`), each ecosystem's own version ordering, and the
matcher that turns an SBOM's packages into findings.

The interface the rest of the capability uses (service.py, jobs, CLI):

- `VulnDb(engines)`: the store over the capability's tables (vulndb/tables.py, the
  branch's revision supplychain_0002):
    `await db.import_osv(path, progress)` → ImportResult (advisories added/changed,
    the new generation); `await db.generation()` → int (changes on every import that
    changed something); `await db.status()` → DbStatus;
    `await db.index()` → VulnIndex, the in-memory index of the current generation
    (built once per generation and kept);
- `VulnIndex.match(contents)` → list[Finding]: pure, fast (a dict lookup per package,
  version comparisons only on a name hit);
- `versions.compare(ecosystem, a, b)` → -1/0/1 in the ecosystem's own ordering.

As built: `import_osv(path, progress=None, *, batch_size=500)` takes a folder, a zip,
a zip of zips or one JSON file; `progress(done, total)` gets the documents read so far
and their number (None when zips hold zips); a path that is neither a folder nor a
file raises InvalidRequest. ImportResult: files, added, updated, removed, unchanged,
skipped, reasons (the first ten "<file>: <reason>"), generation, `.changed`. DbStatus:
generation, advisories, ecosystems ({OSV ecosystem: advisories}), imported_at,
changed_at. VulnIndex: `.generation`, `.advisories`, `match`. `compare` raises
InvalidVersion / UnknownOrdering (both ValueError).
"""

from dockyard.supplychain.vulndb.matcher import VulnIndex
from dockyard.supplychain.vulndb.store import DbStatus, ImportResult, Progress, VulnDb
from dockyard.supplychain.vulndb.versions import InvalidVersion, UnknownOrdering, compare

__all__ = [
    "DbStatus",
    "ImportResult",
    "InvalidVersion",
    "Progress",
    "UnknownOrdering",
    "VulnDb",
    "VulnIndex",
    "compare",
]
