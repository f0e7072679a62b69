"""What the package contributes through the capability seam (dockyard.capabilities)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.capabilities import Capability

MIGRATIONS = Path(__file__).with_name("migrations")


def capability() -> Capability:
    from dockyard.capabilities import Capability
    from dockyard.supplychain.settings import SupplyChainSettings

    return Capability(name="supplychain", settings=SupplyChainSettings, migrations=MIGRATIONS)
