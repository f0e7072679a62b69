"""`/api/v1/system/settings`: the configuration as this server read it (file, then
environment overrides, then flags), for administrators — read-only, secrets masked
(pydantic's SecretStr renders as `**********`), with the capabilities this build
carries."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dockyard import __version__
from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.routing import PREFIX

router = APIRouter(prefix=PREFIX + "/system", tags=["system"])
MASK = "**********"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:]*:)[^/@]*@", re.IGNORECASE)
_SECRET_KEYS = re.compile(r"password|secret|token|private_key|credential", re.IGNORECASE)


def masked(value: Any, key: str = "") -> Any:
    """The settings with every secret hidden: SecretStr fields (already masked by
    pydantic), values under secret-sounding keys, and passwords inside URLs (a
    database or Redis URL with credentials)."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str):
        if value and _SECRET_KEYS.search(key) and not key.endswith(("_file", "_env")):
            return MASK
        return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", value)
    return value


class SystemSettingsOut(BaseModel):
    version: str
    capabilities: list[str] = Field(description="the capabilities this build carries")
    settings: dict[str, Any] = Field(description="every section, secrets masked")


@router.get(
    "/settings",
    responses=errors(),
    summary="The configuration as this server read it, secrets masked (administrators)",
)
async def system_settings(c: Ctx) -> SystemSettingsOut:
    c.services.guard.admin(c.actor, "read the configuration")
    from dockyard.capabilities import REGISTERED

    settings = masked(c.services.settings.model_dump(mode="json"))
    return SystemSettingsOut(
        version=__version__,
        capabilities=[cap.name for cap in REGISTERED],
        settings=settings,
    )
