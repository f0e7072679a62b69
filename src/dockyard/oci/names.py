"""Repository names and tags: the distribution-spec grammar, and nothing else."""

from __future__ import annotations

import re

from dockyard.errors import ManifestInvalid, NameInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
COMPONENT_PATTERN = rf"^{_COMPONENT}$"
"""One path component, which is what a project name is: the API and the registry
accept exactly the same names (`team--x` included)."""
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    """Return the name if it matches the spec grammar; raise NameInvalid otherwise.

    The grammar alone rules out `..`, empty components, absolute paths and
    anything but lowercase alphanumerics and separators, so a valid name can
    never escape a storage prefix.
    """
    if len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        raise NameInvalid(f"invalid repository name: {name[:100]!r}")
    return name


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise ManifestInvalid(f"invalid tag: {tag[:140]!r}")
    return tag


def is_tag(reference: str) -> bool:
    return TAG_RE.fullmatch(reference) is not None
