"""The planner's pure parts: which namespaces a policy's globs name, and the items a
batch of this registry's events calls for under a push policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dockyard import events as ev
from dockyard.replication.planner import from_events, namespaces
from dockyard.replication.policy import Filters, Rewrite
from dockyard.replication.records import NewItem, Policy

SUBJECT = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def event(kind: str, repository: str, *, tag: str | None = None, digest: str = OTHER,
          **detail: Any) -> ev.Event:  # fmt: skip
    return ev.Event(
        id=1, seq=1, kind=kind, at=dt.datetime.now(dt.UTC), repository=repository,
        project=repository.split("/")[0], digest=digest, tag=tag, media_type=None,
        actor="someone", detail=detail,
    )  # fmt: skip


def policy(**kw: Any) -> Policy:
    return Policy(name="p", direction="push", endpoint="e", trigger="event", **kw)


def test_namespaces_of_globs() -> None:
    assert namespaces(Filters()) is None
    assert namespaces(Filters(repositories=["team/*", "team/x", "ops/**"])) == ("team", "ops")
    assert namespaces(Filters(repositories=["team/*", "*/app"])) is None
    assert namespaces(Filters(repositories=["app"])) is None  # no namespace part


def test_pushes_become_copies_and_referrers() -> None:
    p = policy(
        filters=Filters(repositories=["team/*"], tags=["v*"]),
        rewrite=Rewrite(mode="prefix", namespace="dr"),
    )
    cosign = SUBJECT.replace(":", "-") + ".sig"
    events = [
        event(ev.PUSHED, "team/app", tag="v1"),
        event(ev.PUSHED, "team/app", tag="dev"),  # tag filtered out
        event(ev.PUSHED, "other/app", tag="v1"),  # repository filtered out
        event(ev.PUSHED, "team/app", tag=cosign),  # follows its subject
        event(ev.PUSHED, "team/app", tag=SUBJECT.replace(":", "-")),  # a referrers index
        event(ev.PUSHED, "team/app", digest=OTHER, subject=SUBJECT),  # a referrer by digest
        event(ev.PUSHED, "team/app", digest=OTHER),  # an index child: comes with its index
        event(ev.PULLED, "team/app", tag="v1"),
    ]
    assert from_events(p, events) == [
        NewItem("copy", "team/app", "v1", "dr/team/app"),
        NewItem("referrer", "team/app", cosign, "dr/team/app"),
        NewItem("referrer", "team/app", OTHER, "dr/team/app"),
    ]


def test_deletes_only_with_propagation() -> None:
    events = [
        event(ev.TAG_DELETED, "team/app", tag="v1"),
        event(ev.DELETED, "team/app", digest=SUBJECT, tags=["v2"]),
        event(ev.DELETED, "team/app", digest=OTHER, tags=["dev"]),  # none of its tags taken
        event(ev.DELETED, "team/app", digest="sha256:" + "ef" * 32, tags=[]),  # untagged
    ]
    filters = Filters(tags=["v*"])
    assert from_events(policy(filters=filters), events) == []
    assert from_events(policy(filters=filters, delete_propagation=True), events) == [
        NewItem("delete", "team/app", "v1", "team/app"),
        NewItem("delete", "team/app", SUBJECT, "team/app"),
        NewItem("delete", "team/app", "sha256:" + "ef" * 32, "team/app"),
    ]


def test_a_rewrite_that_gives_no_name_is_a_failed_item() -> None:
    p = policy(rewrite=Rewrite(mode="prefix", namespace="n" * 200))
    [item] = from_events(p, [event(ev.PUSHED, "team/" + "a" * 60, tag="v1")])  # > 255
    assert item.error is not None and "not a repository name" in item.error
