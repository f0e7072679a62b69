"""Rows as JSON lines, typed by the columns they come from or go to: a timestamp is
an ISO 8601 string (UTC), bytes are base64, everything else is JSON's own. So a
snapshot of SQLite loads into PostgreSQL and back (the types are read from each
database's own schema, which the same migrations made)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.types import Boolean, DateTime, LargeBinary, _Binary


def encode(row: Mapping[Any, Any]) -> str:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:  # SQLite gives naive UTC
                value = value.replace(tzinfo=dt.UTC)
            out[key] = value.isoformat()
        elif isinstance(value, bytes | bytearray | memoryview):
            out[key] = base64.b64encode(bytes(value)).decode()
        else:
            out[key] = value
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _decode_value(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, DateTime):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if isinstance(kind, LargeBinary | _Binary):
        return base64.b64decode(value)
    if isinstance(kind, Boolean):
        return bool(value)
    return value


def decode(table: Table, line: str) -> dict[str, Any]:
    """A row for `table` (columns it lacks are refused: the schemas must match)."""
    data = json.loads(line)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in table.c:
            raise ValueError(f"table {table.name} has no column {key!r}")
        out[key] = _decode_value(table.c[key], value)
    return out
