"""Manifests, tags, referrers and the catalog."""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.cache.base import Cache
from dockyard.errors import (
    DigestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
    Unsupported,
)
from dockyard.metadata.records import ManifestRecord, MetadataStore, NewManifest
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import is_digest, parse_digest
from dockyard.oci.manifest import parse_manifest
from dockyard.oci.names import validate_tag
from dockyard.registry.policies import PullPolicy, PullRequest, TagChange, TagPolicy
from dockyard.registry.sources import PullSource, covering

# The cache key of a repository's tag list: never a manifest reference (those have no "/").
TAGS_KEY = "tags/list"


def _uncounted() -> None:
    return None


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: str
    subject: str | None


class ManifestService:
    def __init__(
        self,
        store: MetadataStore,
        cache: Cache,
        *,
        max_bytes: int,
        delete_enabled: bool,
        cache_hit: Callable[[], None] = _uncounted,
        cache_miss: Callable[[], None] = _uncounted,
    ) -> None:
        self._store = store
        self._cache = cache
        self.max_bytes = max_bytes
        self._delete_enabled = delete_enabled
        # counted here rather than by a wrapping Cache: one coroutine frame less per lookup
        self._cache_hit = cache_hit
        self._cache_miss = cache_miss
        self.pull_policies: list[PullPolicy] = []  # filled by services.py
        self.tag_policies: list[TagPolicy] = []  # filled by services.py
        self.sources: list[PullSource] = []  # filled by services.py (the proxy cache)

    @staticmethod
    def _check_reference(reference: str) -> None:
        if is_digest(reference):
            parse_digest(reference)
        else:
            validate_tag(reference)

    async def get(self, repository: str, reference: str) -> ManifestRecord:
        """The hot path: one cache probe, or one indexed query."""
        record = await self._cache.get(repository, reference)
        if record is not None:
            self._cache_hit()
            return record  # type: ignore[no-any-return]
        self._cache_miss()
        token = await self._cache.token(repository)
        if is_digest(reference):
            parse_digest(reference)
        elif not reference or len(reference) > 128:
            raise ManifestUnknown(f"manifest {reference[:128]} unknown")
        record = await self._store.get_manifest(repository, reference)
        if record is None:
            raise ManifestUnknown(
                f"manifest {reference[:128]} unknown in {repository}",
                detail={"name": repository, "reference": reference[:128]},
            )
        await self._cache.put(repository, reference, record, token, record.size + 256)
        return record

    async def pull_through(
        self, repository: str, reference: str
    ) -> tuple[ManifestRecord, str | None]:
        """`get`, for a repository a pull source may cover (callers check `sources`
        first): the source decides between the local copy and upstream's."""
        source = covering(self.sources, repository)
        if source is None:
            return await self.get(repository, reference), None
        try:
            local: ManifestRecord | None = await self.get(repository, reference)
        except ManifestUnknown:
            local = None
        return await source.manifest(repository, reference, local)

    async def check_pull(
        self,
        repository: str,
        reference: str,
        record: ManifestRecord,
        principal: str | None = None,
        robot: bool = False,
    ) -> list[str]:
        """Run the pull-path policies capabilities registered: raise to refuse; the
        warnings of policies in audit mode are returned (for `Warning` headers)."""
        if not self.pull_policies:
            return []
        pull = PullRequest(
            repository, reference, record.digest, record.media_type, principal, robot
        )
        warnings: list[str] = []
        for policy in self.pull_policies:
            warning = await policy.check(pull)
            if warning:
                warnings.append(warning)
        return warnings

    async def _tag_digest(self, repository: str, tag: str) -> str | None:
        """What `tag` points at now (a cache probe, else one indexed query), or None."""
        try:
            return (await self.get(repository, tag)).digest
        except ManifestUnknown:
            return None

    async def _guarding(self, repository: str, tag: str) -> list[TagPolicy]:
        return [p for p in self.tag_policies if await p.guards(repository, tag)]

    async def check_tag(
        self,
        repository: str,
        tag: str,
        new: str | None,
        actor: str | None = None,
        *,
        old: str | None = None,
    ) -> None:
        """Ask the tag policies capabilities registered (tag immutability) whether `tag`
        may point at `new` (None: be deleted); one raises Denied to refuse. What the tag
        points at now is `old` when the caller knows it, else looked up, and only when
        a policy guards the tag."""
        if not self.tag_policies:
            return
        guarding = await self._guarding(repository, tag)
        if not guarding:
            return
        if old is None:
            old = await self._tag_digest(repository, tag)
        if old is None or old == new:  # a new tag (or one not there), or the same digest again
            return
        change = TagChange(repository, tag, old, new, actor)
        for policy in guarding:
            await policy.check(change)

    async def check_repository_delete(self, repository: str, actor: str | None = None) -> None:
        """Refuse to delete a repository whose tags a tag policy protects."""
        if not self.tag_policies:
            return
        for tag in await self._store.list_tags(repository, None, None) or []:
            await self.check_tag(repository, tag, None, actor)

    async def put(
        self,
        repository: str,
        reference: str,
        content_type: str | None,
        content: bytes,
        actor: str | None = None,
    ) -> PutResult:
        if len(content) > self.max_bytes:
            raise ManifestTooLarge(f"manifest is larger than {self.max_bytes} bytes")
        self._check_reference(reference)
        if is_digest(reference):
            wanted = parse_digest(reference)
            digest = f"{wanted.algorithm}:{hashlib.new(wanted.algorithm, content).hexdigest()}"
            if digest != reference:
                raise DigestInvalid(
                    f"manifest digest {digest} does not match {reference}",
                    detail={"digest": reference},
                )
            tag = None
        else:
            digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
            tag = reference
        parsed = parse_manifest(content, content_type)
        record = NewManifest(
            digest=digest,
            media_type=parsed.media_type,
            content=content,
            artifact_type=parsed.artifact_type,
            subject_digest=parsed.subject.digest if parsed.subject else None,
            annotations=json.dumps(parsed.annotations, sort_keys=True)
            if parsed.annotations
            else None,
            blob_refs=[(d.digest, d.size) for d in parsed.blobs],
            child_refs=[(d.digest, d.size) for d in parsed.children],
        )
        if tag is not None:
            await self.check_tag(repository, tag, digest, actor)
        await self._store.put_manifest(repository, record, tag, actor)
        await self._cache.invalidate(repository)
        return PutResult(digest, record.subject_digest)

    async def delete(self, repository: str, reference: str, actor: str | None = None) -> None:
        if not self._delete_enabled:
            raise Unsupported("deletion is disabled on this registry")
        self._check_reference(reference)
        if self.tag_policies:  # deleting a manifest deletes its tags with it
            if is_digest(reference):
                for tag in await self._store.tags_of(repository, reference):
                    await self.check_tag(repository, tag, None, actor, old=reference)
            else:
                await self.check_tag(repository, reference, None, actor)
        if is_digest(reference):
            found = await self._store.delete_manifest(repository, reference, actor)
        else:
            found = await self._store.delete_tag(repository, reference, actor)
        await self._cache.invalidate(repository)
        if not found:
            raise ManifestUnknown(f"manifest {reference} unknown in {repository}")

    async def tags(self, repository: str, n: int | None, last: str | None) -> list[str]:
        """A page of the repository's tags, in lexical order. The whole list is cached
        beside the repository's manifests (same token, invalidated by the same writes),
        so a listing, or any page of it, is one cache probe."""
        if self.sources:
            source = covering(self.sources, repository)
            listed_upstream = None if source is None else await source.tags(repository)
            if listed_upstream is not None:
                ordered = sorted(listed_upstream)
                start = 0 if last is None else bisect.bisect_right(ordered, last)
                return ordered[start:] if n is None else ordered[start : start + n]
        held = await self._cache.get(repository, TAGS_KEY)
        if held is not None:
            every: list[str] = json.loads(held.content)
        else:
            token = await self._cache.token(repository)
            listed = await self._store.list_tags(repository, None, None)
            if listed is None:
                raise NameUnknown(f"repository {repository} unknown", detail={"name": repository})
            every = listed
            content = json.dumps(every).encode()
            record = ManifestRecord("", "application/json", len(content), content)
            await self._cache.put(repository, TAGS_KEY, record, token, len(content) + 256)
        start = 0 if last is None else bisect.bisect_right(every, last)
        return every[start:] if n is None else every[start : start + n]

    async def catalog(self, n: int | None, last: str | None) -> list[str]:
        return await self._store.list_repositories(n, last)

    async def referrers(self, repository: str, digest: str, artifact_type: str | None) -> bytes:
        parse_digest(digest)
        found = await self._store.referrers(repository, digest, artifact_type)
        manifests = []
        for rec in found:
            desc: dict[str, object] = {
                "mediaType": rec.media_type,
                "digest": rec.digest,
                "size": rec.size,
            }
            if rec.artifact_type:
                desc["artifactType"] = rec.artifact_type
            if rec.annotations:
                desc["annotations"] = json.loads(rec.annotations)
            manifests.append(desc)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return json.dumps(index, separators=(",", ":")).encode()
