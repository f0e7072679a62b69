"""Copying one artifact from a source side to a destination side (sides.py), the
same way in both directions:

1. HEAD the reference on both sides: a destination tag already at the source's
   digest is up to date (its referrers are still looked at);
2. otherwise the manifest is read (by digest), the policy's artifact filters applied,
   then copied depth first: an index's children, each manifest's blobs, and the
   manifest itself by digest, the tag last, so the destination never shows a tag
   whose content is not all there;
3. a blob the destination holds is skipped (HEAD), one it holds in another
   repository it was copied to in this execution is mounted (`?mount=&from=`), the
   rest is streamed from the source to the destination, never held in memory, at
   the policy's bandwidth;
4. then the artifact's referrers (signatures, SBOMs, attestations: the referrers
   API) and cosign's `sha256-<hex>.sig/.att/.sbom` tags, each copied the same way.

Errors a later attempt may not meet (the destination down, rate limiting, a 5xx)
raise `Transient`; the runner keeps the item and retries the execution with
backoff. Anything else fails the item with its message.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

from dockyard.errors import DockyardError, Unavailable
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import is_digest
from dockyard.oci.manifest import parse_manifest
from dockyard.remote import RemoteError, RemoteRateLimited, RemoteUnavailable
from dockyard.replication.policy import ArtifactFacts, Filters
from dockyard.replication.records import Outcome
from dockyard.replication.sides import Found, Side

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
COSIGN_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")
FALLBACK_TAG = re.compile(r"^sha256-[0-9a-f]{64}$")
IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
MAX_CONFIG_BYTES = 4 << 20
MAX_REFERRER_DEPTH = 2


class Transient(Exception):
    """The copy could not go on now; the same item is tried again later."""


def transient(exc: BaseException) -> bool:
    if isinstance(exc, RemoteUnavailable | RemoteRateLimited | Unavailable | OSError):
        return True
    if isinstance(exc, RemoteError):
        return exc.status is None or exc.status >= 500 or exc.status in (408, 429)
    return False


@dataclass(slots=True)
class CopyOptions:
    filters: Filters = field(default_factory=Filters)
    override: bool = True
    dry_run: bool = False
    bandwidth_bytes: int = 0


def is_cosign_tag(tag: str) -> bool:
    return COSIGN_TAG.match(tag) is not None


def is_attached_tag(tag: str) -> bool:
    """A tag that belongs to another artifact: cosign's, or a referrers index kept
    under distribution-spec's tag schema (`sha256-<hex>`) by registries without the
    referrers API. They travel with the artifact they name, never on their own."""
    return COSIGN_TAG.match(tag) is not None or FALLBACK_TAG.match(tag) is not None


class Copier:
    """One execution's copies: remembers where at the destination each blob is, for
    mounts, across the execution's items."""

    def __init__(self, source: Side, destination: Side, options: CopyOptions) -> None:
        self.source = source
        self.destination = destination
        self.options = options
        self._held: dict[str, str] = {}
        self._limiter = (
            AsyncLimiter(options.bandwidth_bytes, 1.0) if options.bandwidth_bytes > 0 else None
        )
        self._mounts_anywhere = destination.mounts_anywhere

    # -- items ----------------------------------------------------------------

    async def copy(self, source_repo: str, reference: str, destination_repo: str) -> Outcome:
        try:
            return await self._copy(source_repo, reference, destination_repo)
        except Exception as exc:
            return self._failure(exc)

    async def copy_referrer(
        self, source_repo: str, reference: str, destination_repo: str
    ) -> Outcome:
        """A referrer pushed on its own (a signature added later, by digest or as a
        cosign tag): copied when its subject is at the destination, so it follows
        what the policy replicated and nothing else."""
        try:
            digest = await self.source.head(source_repo, reference)
            if digest is None:
                raise LookupError(f"{source_repo}@{reference} is not on {self.source.name}")
            found = await self.source.get(source_repo, digest)
            subject = subject_of(reference, found)
            if subject is None or await self.destination.head(destination_repo, subject) != subject:
                return Outcome("skipped", digest=digest, error="its subject is not replicated")
            if await self.destination.head(destination_repo, reference) == digest:
                return Outcome("skipped", digest=digest, error="up to date")
            if self.options.dry_run:
                return Outcome("planned", digest=digest)
            out = Outcome("succeeded", digest=digest, referrers=1)
            await self._tree(source_repo, destination_repo, found, out)
            if not is_digest(reference):
                await self.destination.put(destination_repo, reference, found)
            return out
        except Exception as exc:
            return self._failure(exc)

    def _failure(self, exc: Exception) -> Outcome:
        if isinstance(exc, Transient):
            raise exc
        if transient(exc):
            raise Transient(str(exc)) from exc
        if isinstance(exc, LookupError):
            return Outcome("skipped", error=f"gone from the source: {exc}")
        if isinstance(exc, DockyardError | RemoteError | ValueError):
            return Outcome("failed", error=_message(exc))
        raise exc

    async def delete(self, destination_repo: str, reference: str) -> Outcome:
        if self.options.dry_run:
            return Outcome("planned")
        try:
            found = await self.destination.delete(destination_repo, reference)
        except Exception as exc:
            if transient(exc):
                raise Transient(str(exc)) from exc
            if isinstance(exc, DockyardError | RemoteError):
                return Outcome("failed", error=_message(exc))
            raise
        return Outcome("succeeded" if found else "skipped", error=None if found else "absent")

    async def _copy(self, source_repo: str, reference: str, destination_repo: str) -> Outcome:
        out = Outcome("succeeded")
        digest = await self.source.head(source_repo, reference)
        if digest is None:
            raise LookupError(f"{source_repo}:{reference} is not on {self.source.name}")
        out.digest = digest
        current = await self.destination.head(destination_repo, reference)
        if current == digest:
            out.state = "skipped"
            out.error = "up to date"
        elif current is not None and not is_digest(reference) and not self.options.override:
            return Outcome(
                "skipped",
                digest=digest,
                error=f"the destination's {reference} points at {current} (override is off)",
            )
        else:
            found = await self.source.get(source_repo, digest)
            facts = await self._facts(source_repo, found)
            if not self.options.filters.takes_artifact(facts):
                return Outcome(
                    "skipped", digest=digest, error="filtered out by artifact type or labels"
                )
            if self.options.dry_run:
                return Outcome("planned", digest=digest)
            await self._tree(source_repo, destination_repo, found, out)
            await self.destination.put(destination_repo, reference, found)
        if not self.options.dry_run:
            await self._referrers(source_repo, destination_repo, digest, out, 0)
        return out

    # -- the artifact's content ------------------------------------------------------

    async def _tree(
        self, source_repo: str, destination_repo: str, found: Found, out: Outcome
    ) -> None:
        """Everything `found` needs at the destination, then `found` by digest."""
        parsed = parse_manifest(found.content, found.media_type)
        for child in parsed.children:
            if await self.destination.head(destination_repo, child.digest) == child.digest:
                continue
            fetched = await self.source.get(source_repo, child.digest)
            await self._tree(source_repo, destination_repo, fetched, out)
        for blob in parsed.blobs:
            await self._blob(source_repo, destination_repo, blob.digest, blob.size, out)
        await self.destination.put(destination_repo, found.digest, found)

    async def _blob(
        self, source_repo: str, destination_repo: str, digest: str, size: int, out: Outcome
    ) -> None:
        if await self.destination.has_blob(destination_repo, digest):
            out.blobs_skipped += 1
            self._held.setdefault(digest, destination_repo)
            return
        elsewhere = self._held.get(digest)
        if (elsewhere is not None or self._mounts_anywhere) and await self.destination.mount(
            destination_repo, digest, elsewhere or ""
        ):
            out.blobs_mounted += 1
            return
        async with self.source.read_blob(source_repo, digest) as (_, chunks):
            await self.destination.write_blob(
                destination_repo, digest, size, self._paced(chunks, out)
            )
        out.blobs_copied += 1
        self._held[digest] = destination_repo

    async def _paced(self, chunks: AsyncIterator[bytes], out: Outcome) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if self._limiter is not None:
                step = max(1, int(self._limiter.max_rate))
                for start in range(0, len(chunk), step):
                    piece = chunk[start : start + step]
                    await self._limiter.acquire(len(piece))
                    out.bytes += len(piece)
                    yield piece
            else:
                out.bytes += len(chunk)
                yield chunk

    async def _referrers(
        self, source_repo: str, destination_repo: str, digest: str, out: Outcome, depth: int
    ) -> None:
        if depth >= MAX_REFERRER_DEPTH:
            return
        for referrer in await self.source.referrers(source_repo, digest):
            if await self.destination.head(destination_repo, referrer) != referrer:
                found = await self.source.get(source_repo, referrer)
                await self._tree(source_repo, destination_repo, found, out)
                out.referrers += 1
            await self._referrers(source_repo, destination_repo, referrer, out, depth + 1)
        algorithm, _, hex_digest = digest.partition(":")
        for suffix in COSIGN_SUFFIXES:
            tag = f"{algorithm}-{hex_digest}{suffix}"
            tagged = await self.source.head(source_repo, tag)
            if tagged is None or await self.destination.head(destination_repo, tag) == tagged:
                continue
            found = await self.source.get(source_repo, tagged)
            await self._tree(source_repo, destination_repo, found, out)
            await self.destination.put(destination_repo, tag, found)
            out.referrers += 1

    async def _facts(self, source_repo: str, found: Found) -> ArtifactFacts:
        parsed = parse_manifest(found.content, found.media_type)
        artifact_type = parsed.artifact_type
        if artifact_type in IMAGE_CONFIGS:
            artifact_type = None
        labels = dict(parsed.annotations)
        filters = self.options.filters
        if filters.labels and found.media_type in mt.IMAGE_MANIFESTS and parsed.blobs:
            labels |= await self._config_labels(source_repo, parsed.blobs[0].digest)
        return ArtifactFacts(found.media_type, artifact_type, labels)

    async def _config_labels(self, source_repo: str, digest: str) -> dict[str, str]:
        body = bytearray()
        async with self.source.read_blob(source_repo, digest) as (_, chunks):
            async for chunk in chunks:
                body += chunk
                if len(body) > MAX_CONFIG_BYTES:
                    return {}
        try:
            config = json.loads(bytes(body))
            labels = (config.get("config") or {}).get("Labels") or {}
        except (ValueError, AttributeError):
            return {}
        if not isinstance(labels, dict):
            return {}
        return {str(k): str(v) for k, v in labels.items()}


def subject_of(reference: str, found: Found) -> str | None:
    """The digest `found` refers to: its `subject`, or for a cosign tag the digest the
    tag is named after."""
    match = COSIGN_TAG.match(reference)
    if match is not None:
        return "sha256:" + reference[len("sha256-") : len("sha256-") + 64]
    parsed = parse_manifest(found.content, found.media_type)
    return None if parsed.subject is None else parsed.subject.digest


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message)[:2000]
