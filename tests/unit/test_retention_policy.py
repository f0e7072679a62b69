"""Retention evaluation as a pure function: which artifacts each kind of rule keeps,
how rules combine (OR), tag filters and untagged artifacts, immutable tags, indexes
with their children and subjects with their referrers, the order removals come in,
and the validation of rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from dockyard.lifecycle.retention.policy import (
    Artifact,
    Decision,
    KeepAlways,
    RetentionPolicy,
    Rule,
    evaluate,
    parse_rule,
)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
REPO = "team/app"


def art(
    name: str,
    days_ago: float,
    *tags: str,
    pulled_days_ago: float | None = None,
    subject: str | None = None,
    children: tuple[str, ...] = (),
) -> Artifact:
    return Artifact(
        repository=REPO,
        digest=f"sha256:{name}",
        media_type="application/vnd.oci.image.manifest.v1+json",
        pushed_at=NOW - dt.timedelta(days=days_ago),
        tags=tuple(tags),
        last_pulled_at=None
        if pulled_days_ago is None
        else NOW - dt.timedelta(days=pulled_days_ago),
        subject=None if subject is None else f"sha256:{subject}",
        children=tuple(f"sha256:{c}" for c in children),
    )


def rule(**kw: Any) -> Rule:
    return parse_rule({"repositories": ["team/*"], **kw})


def run(
    artifacts: list[Artifact], *rules: Rule, immutable: set[str] = frozenset()
) -> list[Decision]:
    policy = RetentionPolicy(rules=list(rules))
    return evaluate(
        policy,
        REPO,
        artifacts,
        lambda repo, tag: "rule 7: team/*:" + tag if tag in immutable else None,
        NOW,
    )


def removed(decisions: list[Decision]) -> list[str]:
    return [d.artifact.digest.removeprefix("sha256:") for d in decisions if not d.keep]


def kept(decisions: list[Decision]) -> dict[str, str]:
    return {d.artifact.digest.removeprefix("sha256:"): d.reason for d in decisions if d.keep}


def test_most_recent_keeps_the_n_newest_per_repository() -> None:
    arts = [art("a", 5, "1"), art("b", 4, "2"), art("c", 3, "3"), art("d", 1, "4")]
    out = run(arts, rule(keep="most_recent", count=2))
    assert set(kept(out)) == {"c", "d"}
    assert sorted(removed(out)) == ["a", "b"]
    assert "rule 1: keep the 2 most recently pushed" in kept(out)["d"]


def test_days_rules_use_push_and_pull_times() -> None:
    arts = [
        art("old-unpulled", 40, "a"),
        art("old-pulled", 40, "b", pulled_days_ago=2),
        art("new", 3, "c"),
    ]
    assert set(kept(run(arts, rule(keep="pushed_within_days", days=7)))) == {"new"}
    assert set(kept(run(arts, rule(keep="pulled_within_days", days=7)))) == {"old-pulled"}
    either = run(arts, rule(keep="pushed_or_pulled_within_days", days=7))
    assert set(kept(either)) == {"old-pulled", "new"} and removed(either) == ["old-unpulled"]


def test_most_recently_pulled_puts_never_pulled_last() -> None:
    arts = [
        art("p1", 9, "a", pulled_days_ago=1),
        art("p2", 9, "b", pulled_days_ago=5),
        art("n", 0, "c"),
    ]
    assert set(kept(run(arts, rule(keep="most_recently_pulled", count=2)))) == {"p1", "p2"}


def test_rules_combine_with_or_and_filter_by_tags() -> None:
    arts = [
        art("rel1", 30, "release-1"),
        art("rel2", 20, "release-2"),
        art("dev", 1, "dev-7"),
        art("both", 25, "release-0", "dev-0"),
    ]
    out = run(
        arts,
        rule(tags=["release-*"], keep="most_recent", count=1),
        rule(tags=["*"], exclude_tags=["release-*"], keep="pushed_within_days", days=7),
    )
    # rel2: newest release; dev: recent and not a release; both: its dev-0 tag is
    # selected by rule 2 but it is old, and it is not the newest release
    assert set(kept(out)) == {"rel2", "dev"}
    assert sorted(removed(out)) == ["both", "rel1"]


def test_untagged_artifacts_go_unless_a_rule_includes_them() -> None:
    arts = [art("tagged", 1, "v1"), art("loose", 1)]
    assert removed(run(arts, rule(keep="always"))) == ["loose"]
    assert removed(run(arts, rule(keep="always", untagged=True))) == []
    reason = next(d.reason for d in run(arts, rule(keep="always")) if not d.keep)
    assert "untagged" in reason


def test_immutable_tags_are_always_kept() -> None:
    arts = [art("a", 50, "v1"), art("b", 1, "v2")]
    out = run(arts, rule(keep="most_recent", count=1), immutable={"v1"})
    assert set(kept(out)) == {"a", "b"}
    assert "immutable" in kept(out)["a"]


def test_a_kept_index_keeps_its_children_and_a_removed_one_takes_them() -> None:
    arts = [
        art("idx-new", 1, "new", children=("c1", "c2")),
        art("idx-old", 9, "old", children=("c2", "c3")),
        art("c1", 9),
        art("c2", 9),
        art("c3", 9),
    ]
    out = run(arts, rule(keep="most_recent", count=1))
    assert set(kept(out)) == {"idx-new", "c1", "c2"}
    assert "needed by kept sha256:idx-new" in kept(out)["c2"]
    order = removed(out)
    assert set(order) == {"idx-old", "c3"}
    assert order.index("idx-old") < order.index("c3")  # the index goes first
    why = {d.artifact.digest: d.reason for d in out if not d.keep}
    assert why["sha256:c3"] == "goes with removed sha256:idx-old"


def test_referrers_follow_their_subject() -> None:
    arts = [
        art("img-new", 1, "new"),
        art("img-old", 9, "old"),
        art("sig-new", 1, subject="img-new"),
        art("sig-old", 9, subject="img-old"),
    ]
    out = run(arts, rule(keep="most_recent", count=1))
    assert set(kept(out)) == {"img-new", "sig-new"}
    assert removed(out) == ["sig-old", "img-old"]  # the referrer before its subject


def test_cosign_tag_scheme_signatures_follow_their_image() -> None:
    """cosign's default (tag scheme): the signature of sha256:<hex> is a manifest tagged
    sha256-<hex>.sig with no subject field. A keep-newest rule over every tag must not
    count it as an artifact of its own, so a kept image keeps its signature, and a
    removed image takes its signature and attestation along."""
    new, old, gone = "a" * 64, "b" * 64, "c" * 64
    arts = [
        art(new, 5, "v2"),
        art(old, 9, "v1"),
        art("sig-new", 1, f"sha256-{new}.sig"),
        art("sig-old", 2, f"sha256-{old}.sig"),
        art("att-old", 2, f"sha256-{old}.att"),
        art("dangling", 20, f"sha256-{gone}.sig"),  # its image is not here: an ordinary tag
    ]
    out = run(arts, rule(keep="most_recent", count=1, tags=["*"]))
    assert set(kept(out)) == {new, "sig-new"}
    assert kept(out)["sig-new"] == f"needed by kept sha256:{new}"
    going = removed(out)
    assert set(going) == {old, "sig-old", "att-old", "dangling"}
    assert going.index(old) > max(going.index("sig-old"), going.index("att-old"))
    why = {d.artifact.digest: d.reason for d in out if not d.keep}
    assert why["sha256:sig-old"] == f"goes with removed sha256:{old}"


def test_a_signature_tag_that_is_also_a_release_tag_stays_a_candidate() -> None:
    img = "d" * 64
    arts = [art(img, 1, "v1"), art("sig", 1, f"sha256-{img}.sig", "keep-me")]
    out = run(arts, rule(keep="always", tags=["keep-*"]))
    assert set(kept(out)) == {"sig"}
    assert removed(out) == [img]


def test_repositories_no_rule_covers_are_left_alone() -> None:
    arts = [art("a", 100, "x")]
    policy = RetentionPolicy(rules=[KeepAlways(repositories=["other/*"], keep="always")])
    assert evaluate(policy, REPO, arts, lambda r, t: None, NOW) == []
    assert evaluate(RetentionPolicy(), REPO, arts, lambda r, t: None, NOW) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"keep": "most_recent"},
        {"keep": "pushed_within_days"},
        {"keep": "always", "count": 3},
        {"keep": "most_recent", "count": 3, "days": 2},
        {"keep": "most_recent", "count": 0},
        {"keep": "forever"},
        {"keep": "always", "repositories": []},
        {"keep": "always", "repositories": ["Team/*"]},
        {"keep": "always", "tags": ["a b"]},
        {"keep": "always", "color": "red"},
        {"keep": "most_recent", "count": "3"},
    ],
)
def test_bad_rules_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_rule({"repositories": ["team/*"], **bad})


def test_at_most_fifteen_rules() -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(rules=[rule(keep="always")] * 16)
