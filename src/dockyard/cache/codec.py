"""How a value crosses a process boundary: the shared cache (Redis) stores bytes and
knows nothing of what they mean; the owner of the values (the registry, for
manifests) hands it a codec."""

from __future__ import annotations

from typing import Any, Protocol


class Codec(Protocol):
    def dumps(self, value: Any) -> bytes:
        """`value` as bytes; ValueError or TypeError for a value it does not know."""
        ...

    def loads(self, data: bytes) -> Any:
        """The value back; ValueError, KeyError or TypeError for bytes it cannot read."""
        ...
