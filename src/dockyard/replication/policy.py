"""A replication policy's pure parts: which artifacts it takes (filters) and where they
land (the destination-name rewrite). No I/O; the planner applies these to what it lists.

Globs are shell-style (`fnmatch`, case-sensitive) as everywhere else in Dockyard (robot
permissions, immutability rules): `*` matches across `/` too, so `team/*` takes
`team/app` and `team/sub/app`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dockyard.errors import InvalidRequest, NameInvalid
from dockyard.oci import mediatypes as mt
from dockyard.oci.names import NAME_RE, validate_name

ArtifactKind = Literal["image", "index", "artifact"]
# an explicit class, not \S: pydantic's regex reads \S Unicode-wide, ECMA (the
# document's readers) does not, and the two must agree on what a glob is
Glob = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^ \t\n\r\f\v\x00-\x1f\x7f]+$")
]
"""a shell-style glob: 1-255 characters, no spaces (a schema constraint, so the API's
document says it and a request that breaks it is told so before anything runs)"""
NAMESPACE_PATTERN = rf"^(?:{NAME_RE.pattern})?$"


class Filters(BaseModel):
    """What a policy takes. Empty lists take everything."""

    model_config = ConfigDict(extra="forbid")

    repositories: list[Glob] = Field(default_factory=list, max_length=64)
    """globs over the source repository name"""
    tags: list[Glob] = Field(default_factory=list, max_length=64)
    """globs over the tag; an artifact is taken when one of its tags matches"""
    exclude_tags: list[Glob] = Field(default_factory=list, max_length=64)
    """globs over the tag that are never taken (after `tags`)"""
    artifact_types: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=16
    )
    """`image`, `index`, `artifact`, or an exact artifactType / config media type"""
    labels: dict[Annotated[str, StringConstraints(min_length=1, max_length=255)], Glob] = Field(
        default_factory=dict, max_length=16
    )
    """key → glob over the value, all required: the manifest's annotations and, for an
    image, its config's labels"""

    def takes_repository(self, name: str) -> bool:
        return not self.repositories or any(fnmatchcase(name, g) for g in self.repositories)

    def takes_tag(self, tag: str) -> bool:
        if self.tags and not any(fnmatchcase(tag, g) for g in self.tags):
            return False
        return not any(fnmatchcase(tag, g) for g in self.exclude_tags)

    def takes_artifact(self, facts: ArtifactFacts) -> bool:
        if self.artifact_types and not any(facts.is_type(t) for t in self.artifact_types):
            return False
        return all(
            key in facts.labels and fnmatchcase(facts.labels[key], glob)
            for key, glob in self.labels.items()
        )


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    """What the filters look at in one manifest (the planner reads them)."""

    media_type: str
    artifact_type: str | None = None
    """the manifest's artifactType, else its config media type when that is not an
    image config"""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> ArtifactKind:
        if self.media_type in mt.INDEXES:
            return "index"
        if self.artifact_type:
            return "artifact"
        return "image"

    def is_type(self, wanted: str) -> bool:
        return wanted == self.kind or wanted == self.artifact_type


class Rewrite(BaseModel):
    """Where a source repository lands at the destination.

    - `none`: the same name;
    - `prefix`: `<namespace>/<name>`;
    - `strip`: `<name>` without a leading `<namespace>/` (names without it are unchanged);
    - `replace`: the first `levels` path components replaced by `<namespace>`; `levels`
      -1 flattens every level but the last (`a/b/app` → `<namespace>/app`), 0 is `prefix`.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["none", "prefix", "strip", "replace"] = "none"
    namespace: str = Field("", max_length=200, pattern=NAMESPACE_PATTERN)
    levels: int = Field(1, ge=-1, le=32)

    @model_validator(mode="after")
    def _namespace(self) -> Rewrite:
        if self.mode == "none":
            return self
        if self.mode != "strip" or self.namespace:
            try:
                validate_name(self.namespace)
            except NameInvalid:
                raise ValueError(
                    f"namespace {self.namespace[:80]!r} is not a repository path"
                ) from None
        return self

    def destination(self, name: str) -> str:
        """The destination name of source repository `name`; InvalidRequest when the
        result is not a valid repository name (stripping a whole name, say)."""
        parts = name.split("/")
        if self.mode == "prefix":
            out = f"{self.namespace}/{name}"
        elif self.mode == "strip":
            prefix = self.namespace.strip("/") + "/"
            out = name[len(prefix) :] if self.namespace and name.startswith(prefix) else name
        elif self.mode == "replace":
            drop = len(parts) - 1 if self.levels == -1 else min(self.levels, len(parts) - 1)
            out = "/".join([self.namespace, *parts[drop:]])
        else:
            out = name
        try:
            return validate_name(out)
        except NameInvalid:
            raise InvalidRequest(
                f"{name[:100]} rewritten by {self.mode} {self.namespace!r} gives "
                f"{out[:100]!r}, which is not a repository name"
            ) from None
