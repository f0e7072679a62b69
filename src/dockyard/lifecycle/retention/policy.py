"""Retention rules and their evaluation: a pure function of a repository's artifacts.

Semantics (Harbor's, where they are sensible; docs/operations.md says the same):

- A rule applies to the project's repositories whose full name matches one of its
  globs. A repository no rule applies to is left alone entirely.
- In a repository some rule applies to, an artifact is **kept if any rule keeps it**
  (rules combine with OR) and removed otherwise. So a rule names what to keep, never
  what to delete: "keep the 5 most recently pushed release-*" removes every other
  artifact of the repositories it covers, dev-* builds included.
- A rule's candidates are the artifacts with at least one tag its `tags` globs match
  and its `exclude_tags` globs do not, plus the untagged artifacts when `untagged` is
  true. Among its candidates, per repository, it keeps: `always` all of them;
  `most_recent` the `count` most recently pushed; `most_recently_pulled` the `count`
  most recently pulled (never-pulled ones last, newest push first among them);
  `pushed_within_days`, `pulled_within_days`, `pushed_or_pulled_within_days` those
  pushed / pulled / either within the last `days` days.
- An artifact's push time is when its manifest was stored or a tag last moved to it,
  whichever is later; its pull time is its last counted manifest GET
  (registry/pulls.py).
- Whatever rules say, an artifact with an immutable tag is kept, and so are the
  manifests a kept artifact needs: the children of a kept index and the referrers
  (signatures, SBOMs) of a kept subject. A removed index takes with it the children
  no kept manifest lists, and a removed subject its referrers. Children and
  referrers are never candidates on their own, unless they carry a tag.
- A referrer is also what cosign's tag scheme makes one (its default before OCI 1.1
  referrers): a manifest tagged `sha256-<hex>.sig`, `.att` or `.sbom` refers to the
  manifest `sha256:<hex>` of its repository. Such a tag does not make it a
  candidate: the signature goes with its image, never on its own. Where that
  manifest is not in the repository the tag is an ordinary one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)

GLOB = r"^[a-z0-9._\-/*?\[\]!]+$"
TAG_GLOB = r"^[A-Za-z0-9_.\-*?\[\]!]+$"
RepositoryGlob = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=GLOB)]
TagGlob = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=TAG_GLOB)]
MAX_RULES = 15  # Harbor's limit per project


def _integral(value: object) -> object:
    """JSON has numbers, not integers: 30.0 is 30 (strict mode still refuses "30")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_integral)]
Days = Annotated[int, Field(ge=1, le=36_500), BeforeValidator(_integral)]


class _Rule(BaseModel):
    """What every rule has: where it applies and which artifacts it considers."""

    model_config = ConfigDict(extra="forbid", strict=True)
    repositories: list[RepositoryGlob] = Field(
        min_length=1,
        max_length=50,
        description="globs of full repository names (`team-a/api/*`; `*` matches across '/')",
    )
    tags: list[TagGlob] = Field(
        default_factory=lambda: ["*"],
        max_length=50,
        description="an artifact is a candidate when one of its tags matches one of these",
    )
    exclude_tags: list[TagGlob] = Field(
        default_factory=list, max_length=50, description="…and that tag matches none of these"
    )
    untagged: bool = Field(False, description="untagged artifacts are candidates too")

    def what(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        tags = ",".join(self.tags)
        if self.exclude_tags:
            tags += f" except {','.join(self.exclude_tags)}"
        if self.untagged:
            tags += " and untagged"
        return f"keep {self.what()} of tags {tags} in {','.join(self.repositories)}"

    def covers(self, repository: str) -> bool:
        return any(fnmatchcase(repository, g) for g in self.repositories)

    def selects(self, tags: Sequence[str]) -> bool:
        if not tags:
            return self.untagged
        return any(
            any(fnmatchcase(t, g) for g in self.tags)
            and not any(fnmatchcase(t, g) for g in self.exclude_tags)
            for t in tags
        )


class KeepAlways(_Rule):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"repositories": ["team-a/*"], "keep": "always"}]},
    )
    keep: Literal["always"]

    def what(self) -> str:
        return "always"


class KeepCount(_Rule):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "repositories": ["team-a/*"],
                    "tags": ["release-*"],
                    "keep": "most_recent",
                    "count": 10,
                }
            ]
        },
    )
    keep: Literal["most_recent", "most_recently_pulled"]
    count: Count = Field(description="how many, per repository")

    def what(self) -> str:
        how = "pushed" if self.keep == "most_recent" else "pulled"
        return f"the {self.count} most recently {how}"


class KeepDays(_Rule):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"repositories": ["team-a/*"], "keep": "pushed_or_pulled_within_days", "days": 30}
            ]
        },
    )
    keep: Literal["pushed_within_days", "pulled_within_days", "pushed_or_pulled_within_days"]
    days: Days

    def what(self) -> str:
        return f"{self.keep.removesuffix('_within_days').replace('_', ' ')} within {self.days} days"


RetentionRule = Annotated[KeepAlways | KeepCount | KeepDays, Field(discriminator="keep")]
_RULE: TypeAdapter[KeepAlways | KeepCount | KeepDays] = TypeAdapter(RetentionRule)


def parse_rule(data: object) -> KeepAlways | KeepCount | KeepDays:
    return _RULE.validate_python(data)


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = Field(True, description="whether the scheduled run applies it")
    rules: list[RetentionRule] = Field(default_factory=list, max_length=MAX_RULES)


@dataclass(frozen=True, slots=True)
class Artifact:
    repository: str
    digest: str
    media_type: str
    pushed_at: dt.datetime
    tags: tuple[str, ...] = ()
    last_pulled_at: dt.datetime | None = None
    pull_count: int = 0
    subject: str | None = None
    """the manifest it refers to (a signature, an SBOM), if any"""
    children: tuple[str, ...] = ()
    """the manifests it lists (an index)"""


@dataclass(frozen=True, slots=True)
class Decision:
    artifact: Artifact
    keep: bool
    reason: str


_COSIGN_TAG = re.compile(r"^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})\.(sig|att|sbom)$")


def _tag_subject(tag: str) -> str | None:
    """The digest a cosign tag-scheme tag (`sha256-<hex>.sig`) refers to, if it is one."""
    found = _COSIGN_TAG.match(tag)
    return f"{found[1]}:{found[2]}" if found else None


def _subjects(a: Artifact, everything: dict[str, Artifact]) -> set[str]:
    """The manifests of the repository that `a` refers to: its OCI subject and the
    subjects its cosign tag-scheme tags name."""
    named = {_tag_subject(t) for t in a.tags} | {a.subject}
    return {d for d in named if d is not None and d in everything and d != a.digest}


def _own_tags(a: Artifact, everything: dict[str, Artifact]) -> tuple[str, ...]:
    """`a`'s tags but those saying, by cosign's scheme, which manifest here it refers to."""
    own = []
    for tag in a.tags:
        subject = _tag_subject(tag)
        if subject is None or subject not in everything or subject == a.digest:
            own.append(tag)
    return tuple(own)


ImmutableCheck = Callable[[str, str], str | None]
"""(repository, tag) -> a description of the immutability rule protecting it, or None"""


Rule = KeepAlways | KeepCount | KeepDays


def _kept_by(rule: Rule, candidates: list[Artifact], now: dt.datetime) -> set[str]:
    if isinstance(rule, KeepAlways):
        return {a.digest for a in candidates}
    if isinstance(rule, KeepCount) and rule.keep == "most_recent":
        ranked = sorted(candidates, key=lambda a: (a.pushed_at, a.digest), reverse=True)
        return {a.digest for a in ranked[: rule.count]}
    if isinstance(rule, KeepCount):
        never = dt.datetime.min.replace(tzinfo=dt.UTC)
        ranked = sorted(
            candidates,
            key=lambda a: (a.last_pulled_at or never, a.pushed_at, a.digest),
            reverse=True,
        )
        return {a.digest for a in ranked[: rule.count]}
    since = now - dt.timedelta(days=rule.days)
    pushed = rule.keep in ("pushed_within_days", "pushed_or_pulled_within_days")
    pulled = rule.keep in ("pulled_within_days", "pushed_or_pulled_within_days")
    return {
        a.digest
        for a in candidates
        if (pushed and a.pushed_at >= since)
        or (pulled and a.last_pulled_at is not None and a.last_pulled_at >= since)
    }


def evaluate(
    policy: RetentionPolicy,
    repository: str,
    artifacts: Iterable[Artifact],
    immutable: ImmutableCheck,
    now: dt.datetime,
) -> list[Decision]:
    """What happens to each artifact of one repository; [] when no rule covers it.
    Removals come in the order they can be carried out: a referrer before its subject,
    an index before its children."""
    rules = [(i, r) for i, r in enumerate(policy.rules, 1) if r.covers(repository)]
    everything = {a.digest: a for a in artifacts}
    if not rules or not everything:
        return []
    # who depends on whom: an index on its children, a referrer on its subject
    needs: dict[str, set[str]] = {d: set() for d in everything}
    dependent: set[str] = set()
    for a in everything.values():
        for child in a.children:
            if child in everything:
                needs[a.digest].add(child)
                dependent.add(child)
        for subject in _subjects(a, everything):
            needs[subject].add(a.digest)  # a kept subject keeps its referrers
            dependent.add(a.digest)
    own = {d: _own_tags(a, everything) for d, a in everything.items()}
    top = [a for a in everything.values() if a.digest not in dependent or own[a.digest]]

    reasons: dict[str, str] = {}
    for i, rule in rules:
        candidates = [a for a in top if rule.selects(own[a.digest])]
        for digest in _kept_by(rule, candidates, now):
            reasons.setdefault(digest, f"rule {i}: {rule.describe()}")
    for a in top:
        for tag in a.tags:
            protected = immutable(repository, tag)
            if protected is not None:
                reasons[a.digest] = f"tag {tag} is immutable ({protected})"
                break
    # what the kept need is kept with them
    queue = list(reasons)
    while queue:
        digest = queue.pop()
        for needed in needs[digest]:
            if needed not in reasons:
                reasons[needed] = f"needed by kept {digest}"
                queue.append(needed)

    decisions = [Decision(everything[d], True, reason) for d, reason in sorted(reasons.items())]
    removed = [a for a in everything.values() if a.digest not in reasons]
    why = {a.digest: _removal_reason(a, own[a.digest], rules) for a in removed}
    for a in removed:
        if a.digest in dependent and not own[a.digest]:
            parents = sorted(p for p, n in needs.items() if a.digest in n and p not in reasons)
            why[a.digest] = f"goes with removed {parents[0]}" if parents else why[a.digest]
    decisions += [Decision(a, False, why[a.digest]) for a in _removal_order(removed, everything)]
    return decisions


def _removal_reason(a: Artifact, tags: tuple[str, ...], rules: list[tuple[int, Rule]]) -> str:
    selecting = [i for i, r in rules if r.selects(tags)]
    if not selecting:
        what = "untagged" if not tags else f"tags {','.join(tags)}"
        return f"no rule keeps it: {what} matched by no rule of this repository"
    return "no rule keeps it: " + "; ".join(f"not kept by rule {i}" for i in selecting)


def _removal_order(removed: list[Artifact], everything: dict[str, Artifact]) -> list[Artifact]:
    """Referrers before their subject, an index before its children (Kahn's algorithm)."""
    going = {a.digest for a in removed}
    before: dict[str, set[str]] = {d: set() for d in going}  # digest -> removed first
    for a in removed:
        for child in a.children:
            if child in going:
                before[child].add(a.digest)
        for subject in _subjects(a, everything):
            if subject in going:
                before[subject].add(a.digest)
    out: list[Artifact] = []
    ready = sorted(d for d, b in before.items() if not b)
    done: set[str] = set()
    while ready:
        d = ready.pop(0)
        done.add(d)
        out.append(everything[d])
        for other, b in before.items():
            if other not in done and d in b:
                b.discard(d)
                if not b and other not in ready:
                    ready.append(other)
    out += [everything[d] for d in sorted(going - done)]  # a cycle: content-addressed, cannot be
    return out
