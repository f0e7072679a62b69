"""The replication policy's pure parts: filters and the destination-name rewrite."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dockyard.errors import InvalidRequest
from dockyard.oci import mediatypes as mt
from dockyard.replication.policy import ArtifactFacts, Filters, Rewrite

IMAGE = ArtifactFacts(mt.OCI_MANIFEST, labels={"team": "payments", "tier": "prod-eu"})
INDEX = ArtifactFacts(mt.OCI_INDEX)
SBOM = ArtifactFacts(mt.OCI_MANIFEST, artifact_type="application/spdx+json")


def test_empty_filters_take_everything() -> None:
    f = Filters()
    assert f.takes_repository("any/thing")
    assert f.takes_tag("v1")
    assert f.takes_artifact(IMAGE) and f.takes_artifact(INDEX) and f.takes_artifact(SBOM)


def test_repository_globs_cross_path_levels() -> None:
    f = Filters(repositories=["team/*", "base"])
    assert f.takes_repository("team/app") and f.takes_repository("team/sub/app")
    assert f.takes_repository("base")
    assert not f.takes_repository("other/app") and not f.takes_repository("base/x")


def test_tag_include_then_exclude() -> None:
    f = Filters(tags=["v*", "latest"], exclude_tags=["*-rc*"])
    assert f.takes_tag("v1.2") and f.takes_tag("latest")
    assert not f.takes_tag("v2.0-rc1")
    assert not f.takes_tag("dev")


def test_artifact_types_and_labels() -> None:
    assert Filters(artifact_types=["index"]).takes_artifact(INDEX)
    assert not Filters(artifact_types=["index"]).takes_artifact(IMAGE)
    assert Filters(artifact_types=["image"]).takes_artifact(IMAGE)
    assert not Filters(artifact_types=["image"]).takes_artifact(SBOM)
    assert Filters(artifact_types=["application/spdx+json"]).takes_artifact(SBOM)
    assert Filters(artifact_types=["artifact"]).takes_artifact(SBOM)
    labelled = Filters(labels={"team": "payments", "tier": "prod-*"})
    assert labelled.takes_artifact(IMAGE)
    assert not labelled.takes_artifact(INDEX)  # no labels at all
    assert not Filters(labels={"tier": "staging"}).takes_artifact(IMAGE)


@pytest.mark.parametrize("glob", ["", "a b", "x" * 256])
def test_bad_globs_refused(glob: str) -> None:
    with pytest.raises(ValidationError):
        Filters(tags=[glob])


@pytest.mark.parametrize(
    ("rewrite", "source", "destination"),
    [
        (Rewrite(), "a/b/app", "a/b/app"),
        (Rewrite(mode="prefix", namespace="dr"), "a/b/app", "dr/a/b/app"),
        (Rewrite(mode="strip", namespace="a"), "a/b/app", "b/app"),
        (Rewrite(mode="strip", namespace="a"), "other/app", "other/app"),
        (Rewrite(mode="strip", namespace="a/b"), "a/b/app", "app"),
        (Rewrite(mode="replace", namespace="x"), "a/b/app", "x/b/app"),
        (Rewrite(mode="replace", namespace="x", levels=2), "a/b/app", "x/app"),
        (Rewrite(mode="replace", namespace="x", levels=5), "a/b/app", "x/app"),
        (Rewrite(mode="replace", namespace="x", levels=-1), "a/b/c/app", "x/app"),
        (Rewrite(mode="replace", namespace="x/y", levels=0), "app", "x/y/app"),
        (Rewrite(mode="replace", namespace="x", levels=1), "app", "x/app"),
    ],
)
def test_rewrite(rewrite: Rewrite, source: str, destination: str) -> None:
    assert rewrite.destination(source) == destination


def test_rewrite_refuses_what_is_not_a_name() -> None:
    with pytest.raises(ValidationError):
        Rewrite(mode="prefix", namespace="Bad/NS")
    with pytest.raises(ValidationError):
        Rewrite(mode="prefix", namespace="")
    with pytest.raises(InvalidRequest):
        Rewrite(mode="strip", namespace="a").destination("a/")
