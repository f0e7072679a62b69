"""The in-memory driver against the shared conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dockyard.storage.memory import MemoryDriver
from tests.storage.conformance import DriverConformance


class TestMemoryDriver(DriverConformance):
    keeps_bytes_in_memory = True

    @pytest.fixture
    async def driver(self) -> AsyncIterator[MemoryDriver]:
        yield MemoryDriver()
