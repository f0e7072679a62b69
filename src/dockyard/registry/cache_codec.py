"""The shared cache's codec for what the registry caches: manifest records (and tag
lists, which travel as records of their own)."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from typing import Any

from dockyard.metadata.records import ManifestRecord


class ManifestRecordCodec:
    def dumps(self, value: Any) -> bytes:
        if not isinstance(value, ManifestRecord):
            raise TypeError(f"cannot cache a {type(value).__name__}")
        raw = asdict(value)
        raw["content"] = base64.b64encode(value.content).decode()
        return json.dumps(raw).encode()

    def loads(self, data: bytes) -> ManifestRecord:
        raw = json.loads(data)
        raw["content"] = base64.b64decode(raw["content"])
        return ManifestRecord(**raw)
