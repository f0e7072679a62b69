"""Pull-path policies: what a capability (signature verification, vulnerability
gates, …) may plug into a manifest GET or HEAD to refuse a pull.

A policy answers from a cache keyed by digest and its own policy version, never a
database round trip per request; the registry calls each one after the manifest is
resolved and before a byte of it is sent. With none registered the check is an
empty loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PullRequest:
    repository: str
    reference: str
    """the tag or digest the client asked for"""
    digest: str
    media_type: str
    principal: str | None = None
    """who pulls: a user's name, a robot's full name (robot$…), None for anonymous"""
    robot: bool = False
    """whether `principal` is a robot account (a policy may exempt named robots)"""


class PullPolicy(Protocol):
    name: str

    async def check(self, pull: PullRequest) -> str | None:
        """Return None to let the pull go ahead, or a warning (a policy in audit mode:
        the pull goes ahead, the client sees a `Warning` header); raise Denied (naming the
        policy and the reason) to refuse it."""
        ...


@dataclass(frozen=True, slots=True)
class TagChange:
    repository: str
    tag: str
    old_digest: str | None
    """what the tag points at now (None: a new tag)"""
    new_digest: str | None
    """what it would point at (None: the tag is being deleted)"""
    actor: str | None = None


class TagPolicy(Protocol):
    """Asked before a push moves or deletes a tag (tag immutability): answers from its
    cache, like a pull policy."""

    name: str

    async def guards(self, repository: str, tag: str) -> bool:
        """Whether `check` could refuse any change of this tag (from its cache). The
        registry looks up what a tag points at, which costs a query on a cache miss, only
        when some policy guards the tag: pushing tags no rule covers costs nothing more."""
        ...

    async def check(self, change: TagChange) -> None:
        """Return to allow; raise Denied naming the rule to refuse."""
        ...
