"""The capability's background work: `supplychain.scan` (an image's SBOM, then its
findings from the built-in matcher and each configured adapter), `supplychain.rematch`
(every stored SBOM against the current vulnerability database, no layer read again:
after an import and on the `supplychain.rescan` schedule), and the consumer of pushes
(scan or SBOM on push, by policy; SBOMs pushed by clients indexed for their subject)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard import events as ev
from dockyard.errors import DockyardError
from dockyard.jobs import JobContext, JobKind, PermanentFailure, Schedule
from dockyard.metadata.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import is_digest
from dockyard.supplychain import sbom
from dockyard.supplychain.service import BUILTIN, REMATCH_JOB, SCAN_JOB, SupplyChainService
from dockyard.supplychain.signatures import ArtifactKind
from dockyard.supplychain.verdicts import exempt_kind, is_image, parse

log = logging.getLogger(__name__)

MAX_PUSHED_SBOM = 64 << 20


def _target(payload: Mapping[str, Any]) -> tuple[str, str]:
    repository, digest = payload.get("repository"), payload.get("digest")
    if not isinstance(repository, str) or not isinstance(digest, str) or not is_digest(digest):
        raise PermanentFailure("payload needs a repository and a digest")
    return repository, digest


async def _record_or_none(ctx: JobContext, repository: str, digest: str) -> ManifestRecord | None:
    """The manifest from the store itself: background work neither fills the pull path's
    cache nor counts in its hit rate."""
    record: ManifestRecord | None = await ctx.services.store.get_manifest(repository, digest)
    return record


async def scan(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    repository, digest = _target(payload)
    service = SupplyChainService(ctx.services)
    record = await _record_or_none(ctx, repository, digest)
    if record is None:
        raise PermanentFailure(f"{repository}@{digest} is gone")
    if record.media_type in mt.INDEXES:  # each platform is scanned on its own
        children = [
            str(c["digest"])
            for c in parse(record.content).get("manifests") or []
            if isinstance(c, dict) and isinstance(c.get("digest"), str) and is_digest(c["digest"])
        ][:64]
        for child in children:
            await service.enqueue_scan(repository, child, sbom_only=bool(payload.get("sbom_only")))
        return {"children": children}
    if not is_image(record, parse(record.content)):
        raise PermanentFailure(f"{repository}@{digest} is not an image")
    out: dict[str, Any] = {}
    stored = await service.store.sbom(digest)
    contents = None if stored is None else stored.contents
    if contents is None:
        try:
            contents = await service.generate_sbom(repository, record)
        except sbom.LayerRefused as exc:  # the built-in report says why; adapters still run
            await ctx.log(f"layers refused: {exc}")
            await service.record_report(repository, digest, BUILTIN, [], None, str(exc))
            out["error"] = str(exc)
        else:
            await ctx.log(f"SBOM: {len(contents.packages)} packages")
    if payload.get("sbom_only"):
        return {**out, "packages": None if contents is None else len(contents.packages)}
    if contents is not None:
        await ctx.checkpoint()
        findings, generation = await service.match(contents)
        await service.record_report(repository, digest, BUILTIN, findings, generation)
        out.update(packages=len(contents.packages), findings=len(findings))
    for adapter in service.settings.adapters:
        await ctx.checkpoint()
        out[adapter.name] = await _adapter_scan(ctx, service, adapter, repository, record)
    return out


async def _adapter_scan(
    ctx: JobContext, service: SupplyChainService, adapter: Any, repository: str, record: Any
) -> str:
    from dockyard.supplychain.adapter_scan import scan_with_adapter

    try:
        findings = await scan_with_adapter(ctx.services, adapter, repository, record)
    except Exception as exc:  # the adapter's failure is its report's, not the job's
        await ctx.log(f"adapter {adapter.name}: {exc}")
        await service.record_report(repository, record.digest, adapter.name, [], None, str(exc))
        return f"failed: {exc}"
    await service.record_report(repository, record.digest, adapter.name, findings, None)
    return f"{len(findings)} findings"


async def rematch(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    service = SupplyChainService(ctx.services)
    index = await service.vulndb().index()
    generation = index.generation
    matched = changed = 0
    async for batch in service.store.all_sboms():
        await ctx.checkpoint()
        for digest, repository, contents in batch:
            findings = index.match(contents)
            if await service.record_report(repository, digest, BUILTIN, findings, generation):
                changed += 1
            matched += 1
    await ctx.log(f"rematched {matched} SBOMs against generation {generation}: {changed} changed")
    return {"sboms": matched, "changed": changed, "generation": generation}


async def on_push(ctx: JobContext, batch: Sequence[ev.Event]) -> None:
    service = SupplyChainService(ctx.services)
    for event in batch:
        if event.repository is None or event.digest is None or event.project is None:
            continue
        if (event.actor or "").startswith("job:supplychain"):
            continue  # our own SBOM referrers
        policy = (await service.policies.effective(event.project)).policy.sbom
        record = await _record_or_none(ctx, event.repository, event.digest)
        if record is None:
            continue
        kind = exempt_kind(record)
        if kind in (ArtifactKind.SBOM, ArtifactKind.ATTESTATION):
            await _index_pushed_sbom(
                ctx, service, event.repository, record, event.tag, policy.scan_on_push
            )
            continue
        if kind is not None or record.media_type in mt.INDEXES:
            continue  # an index's platforms are pushed, and scanned, on their own
        if not (policy.scan_on_push or policy.generate_on_push):
            continue
        if is_image(record, parse(record.content)):
            await service.enqueue_scan(
                event.repository, record.digest, sbom_only=not policy.scan_on_push
            )


async def _index_pushed_sbom(
    ctx: JobContext,
    service: SupplyChainService,
    repository: str,
    record: ManifestRecord,
    tag: str | None,
    scan: bool,
) -> None:
    """A client's SBOM: a referrer (oras attach, syft), a Sigstore bundle or a cosign
    `.att` attestation of a CycloneDX / SPDX predicate. Its packages become the subject's
    SBOM unless Dockyard made one from the layers; attestations of other predicates are
    left alone."""
    doc = parse(record.content)
    subject = doc.get("subject")
    target = subject.get("digest") if isinstance(subject, dict) else _subject_of_tag(tag)
    layers = [x for x in doc.get("layers") or [] if isinstance(x, dict)][:16]
    if not isinstance(target, str) or not is_digest(target) or not layers:
        return
    existing = await service.store.sbom(target)
    if existing is not None and existing.source == "generated":
        return
    for layer in layers:
        digest, media_type = layer.get("digest"), str(layer.get("mediaType", ""))
        if not isinstance(digest, str) or not is_digest(digest):
            continue
        try:
            data = await _read_bounded(ctx, digest)
            contents = sbom.parse_sbom(_unbundled(data), media_type)
        except (ValueError, DockyardError) as exc:
            await ctx.log(f"{record.digest} in {repository}: not an SBOM Dockyard reads: {exc}")
            continue
        fmt = "spdx" if "spdx" in media_type or b"spdxVersion" in data else "cyclonedx"
        await service.store.put_sbom(target, repository, "pushed", record.digest, fmt, contents)
        if scan:
            findings, generation = await service.match(contents)
            await service.record_report(repository, target, BUILTIN, findings, generation)
        return


def _subject_of_tag(tag: str | None) -> str | None:
    """cosign's tag form names the subject: sha256-<hex>.att → sha256:<hex>"""
    if not tag or "-" not in tag or "." not in tag:
        return None
    algorithm, _, rest = tag.partition("-")
    return f"{algorithm}:{rest.rpartition('.')[0]}"


def _unbundled(data: bytes) -> bytes:
    """A Sigstore bundle's DSSE envelope (parse_sbom reads envelopes and statements)."""
    if b'"dsseEnvelope"' not in data:
        return data
    doc = parse(data)
    envelope = doc.get("dsseEnvelope")
    return json.dumps(envelope).encode() if isinstance(envelope, dict) else data


async def _read_bounded(ctx: JobContext, digest: str) -> bytes:
    data = bytearray()
    async for piece in ctx.services.blobs.stream(digest, 0, MAX_PUSHED_SBOM + 1):
        data += piece
    if len(data) > MAX_PUSHED_SBOM:
        raise ValueError("larger than 64 MiB")
    return bytes(data)


SCAN_KIND = JobKind(name=SCAN_JOB, run=scan, max_attempts=3, backoff_seconds=30.0)
REMATCH_KIND = JobKind(name=REMATCH_JOB, run=rematch, max_attempts=3, backoff_seconds=60.0)
CONSUMER = ev.EventConsumer("supplychain", frozenset({ev.PUSHED}), on_push, batch_size=100)


def schedules(settings: Any) -> list[Schedule]:
    cron = settings.section("supplychain").rescan_schedule
    return [Schedule(name="supplychain.rescan", cron=cron, kind=REMATCH_JOB, payload={})]
