"""A client of Harbor's Pluggable Scanner Adapter API (v1.1 and v1.2), so a team's Trivy
or Clair adapter scans for Dockyard.

    values.py   ScanTarget, AdapterMetadata, AdapterReport, AdapterHealth, AdapterError
    wire.py     the spec's media types and JSON shapes; report items → Finding
    client.py   ScannerAdapterClient: metadata(), scan(), health()

The lead's calls: `async with ScannerAdapterClient(settings) as client:` then
`await client.metadata()`, `await client.scan(ScanTarget(repo, digest, mime_type, tag),
registry_url, registry_authorization)` → AdapterReport (its findings are
`model.Finding`s of ecosystem "adapter:<name>"), `await client.health()` → AdapterHealth.
Every failure is an AdapterError with a one-line message naming the adapter.
"""

from dockyard.supplychain.adapter.client import PollTiming, ScannerAdapterClient
from dockyard.supplychain.adapter.values import (
    AdapterError,
    AdapterHealth,
    AdapterMetadata,
    AdapterReport,
    Capability,
    ScannerInfo,
    ScanTarget,
)

__all__ = [
    "AdapterError",
    "AdapterHealth",
    "AdapterMetadata",
    "AdapterReport",
    "Capability",
    "PollTiming",
    "ScanTarget",
    "ScannerAdapterClient",
    "ScannerInfo",
]
