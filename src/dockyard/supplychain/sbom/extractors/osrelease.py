"""os-release(5): the distro of an image (ID=, VERSION_ID=, VERSION_CODENAME=).
The stdlib reads only the host's file (platform.freedesktop_os_release), so the
KEY=value lines are split here and their shell quoting undone with shlex."""

from __future__ import annotations

import shlex

from dockyard.supplychain.model import Distro

PATHS = ("etc/os-release", "usr/lib/os-release")


def parse_os_release(data: bytes) -> Distro | None:
    """The Distro of an os-release file; None without an ID."""
    fields: dict[str, str] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        fields[key.strip()] = words[0] if words else ""
    distro_id = fields.get("ID", "").strip().lower()
    if not distro_id:
        return None
    return Distro(
        id=distro_id,
        version_id=fields.get("VERSION_ID", "").strip(),
        codename=fields.get("VERSION_CODENAME", "").strip(),
    )


def distro_qualifier(distro: Distro | None) -> str | None:
    """The purl `distro` qualifier: debian-12, alpine-3.19.1 (None without a distro)."""
    if distro is None:
        return None
    return f"{distro.id}-{distro.version_id}" if distro.version_id else distro.id
