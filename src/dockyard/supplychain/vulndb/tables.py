"""The vulnerability database's tables (revision supplychain_0002, written with the
importer). Placeholder until the vulndb work lands."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
