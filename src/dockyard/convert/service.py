"""Starting a conversion (who may, what it asks for) and the `convert.zstd` job that
does it, through the registry's own domain services: layers go in through the upload
service (hashed while written, committed bytes-before-rows, the project quota
applies), manifests through the manifest service (validation, tag policies such as
immutability, push events: a converted image is scanned on push like any other).

The order is bytes, then child manifests by digest, then the one manifest or index
the tag names: a job that fails (a layer that is not gzip, a diff_id that does not
match, storage trouble) has moved no tag. What it had written by then (zstd blobs,
an index's converted children) is referenced by nothing and goes with GC.

Signatures are not carried over: a converted image has a new digest, so a signature
of the original says nothing about it, and copying its referrers would make them
claim what the signer never signed. Sign the converted digest (or the index) again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.auth import permissions as perm
from dockyard.convert.capability import JOB, NAME
from dockyard.convert.image import (
    NotConvertible,
    convertible_child,
    descriptor,
    diff_ids,
    is_zstd_variant,
    load,
    new_index,
    platform_of,
    rewrite,
    to_convert,
    zstd_descriptor,
    zstd_layer,
)
from dockyard.convert.recompress import NotGzip, Transcoder, transcode
from dockyard.errors import DockyardError, InvalidRequest, ManifestUnknown, Unavailable
from dockyard.jobs import JobContext, PermanentFailure
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import digest_of, is_digest
from dockyard.registry.uploads import Chunk
from dockyard.storage.base import PathNotFound

if TYPE_CHECKING:
    from dockyard.accounts.guard import Actor
    from dockyard.context import Services
    from dockyard.metadata.records import ManifestRecord

log = logging.getLogger(__name__)
MAX_CONFIG_BYTES = 4 << 20


@dataclass
class Tally:
    layers: int = 0
    kept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    manifests: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "layers_converted": self.layers,
            "layers_kept": self.kept,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "manifests": self.manifests,
        }


@dataclass(frozen=True, slots=True)
class Written:
    digest: str
    media_type: str
    size: int


class ConvertService:
    """Conversions as the API starts them."""

    def __init__(self, services: Services) -> None:
        self._s = services

    async def start(
        self,
        actor: Actor,
        repository: str,
        reference: str,
        *,
        tag: str | None,
        add_to_index: bool,
        level: int | None,
    ) -> int:
        await self._s.guard.repository(actor, repository, perm.PUSH)
        record = await self._s.manifests.get(repository, reference)  # 404 if absent
        if record.media_type not in mt.MANIFEST_TYPES:
            raise InvalidRequest(f"{repository}@{record.digest} is not an image or an index")
        expect = None
        if tag is None:
            if is_digest(reference):
                raise InvalidRequest(
                    "name the tag the result goes to (target_tag): the reference is a digest"
                )
            # add_to_index: the index replaces the tag's image; else `<tag>-zstd`
            tag = reference if add_to_index else f"{reference[:123]}-zstd"
        if add_to_index and tag == reference:
            expect = record.digest  # the tag moves only if nobody moved it meanwhile
        payload: dict[str, Any] = {
            "repository": repository,
            "digest": record.digest,
            "tag": tag,
            "add_to_index": add_to_index,
            "expect": expect,
            "requested_by": actor.name,
        }
        if level is not None:
            payload["level"] = level
        job_id: int = await self._s.jobs.enqueue(
            JOB,
            payload,
            dedup_key=f"{JOB}:{repository}@{record.digest}>{tag}:{int(add_to_index)}",
        )
        await self._s.guard.record(
            actor,
            "convert.zstd",
            f"{repository}@{record.digest}",
            project=repository.partition("/")[0],
            detail={"tag": tag, "add_to_index": add_to_index, "job": job_id},
        )
        return job_id


class Converter:
    """One job's work in one repository: layers recompressed once each (an index's
    platforms may share one), images rewritten, manifests put."""

    def __init__(
        self,
        services: Services,
        repository: str,
        *,
        level: int,
        threads: int,
        actor: str,
        log_line: Callable[[str], Awaitable[None]],
        checkpoint: Callable[[], Awaitable[None]],
    ) -> None:
        self._s = services
        self._repository = repository
        self._level = level
        self._threads = threads
        self._actor = actor
        self._log = log_line
        self._checkpoint = checkpoint
        self._done: dict[str, dict[str, Any]] = {}
        self.tally = Tally()

    async def _config(self, doc: Mapping[str, Any]) -> bytes:
        config = doc.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise NotConvertible("the manifest has no config descriptor")
        parts: list[bytes] = []
        held = 0
        try:
            async for chunk in self._s.blobs.stream(config["digest"]):
                held += len(chunk)
                if held > MAX_CONFIG_BYTES:
                    raise NotConvertible(f"the image config is larger than {MAX_CONFIG_BYTES}")
                parts.append(bytes(chunk))
        except PathNotFound:
            raise NotConvertible(f"config blob {config['digest']} is missing") from None
        return b"".join(parts)

    async def _layer(self, index: int, layer: Mapping[str, Any], diff_id: str) -> dict[str, Any]:
        digest = str(layer["digest"])
        done = self._done.get(digest)
        if done is not None:
            return zstd_layer(layer, done["digest"], done["size"])
        await self._checkpoint()
        uploads = self._s.uploads
        upload = await uploads.start(self._repository)
        transcoder = Transcoder(self._level, self._threads)
        try:
            body = transcode(self._s.blobs.stream(digest), transcoder)
            await uploads.append(self._repository, upload.id, body, Chunk())
            if transcoder.diff_id != diff_id:
                raise PermanentFailure(
                    f"layer {index} ({digest}) uncompresses to {transcoder.diff_id}, but the "
                    f"config's diff_id is {diff_id}: the image is inconsistent, not converted"
                )
            await uploads.finish(self._repository, upload.id, transcoder.digest, None, Chunk())
        except BaseException as exc:
            with suppress(Exception):  # finish may have removed it already
                await uploads.cancel(self._repository, upload.id)
            if isinstance(exc, NotGzip):
                raise PermanentFailure(
                    f"layer {index} ({digest}) is not valid gzip: {exc}"
                ) from None
            if isinstance(exc, PathNotFound):
                raise PermanentFailure(f"layer {index} ({digest}): blob missing") from None
            raise
        self._done[digest] = {"digest": transcoder.digest, "size": transcoder.size}
        self.tally.layers += 1
        self.tally.bytes_before += transcoder.read
        self.tally.bytes_after += transcoder.size
        await self._log(
            f"layer {index}: {digest} ({transcoder.read} bytes gzip) -> "
            f"{transcoder.digest} ({transcoder.size} bytes zstd, level {self._level})"
        )
        return zstd_layer(layer, transcoder.digest, transcoder.size)

    async def image(self, record: ManifestRecord) -> tuple[bytes, str] | None:
        """The zstd manifest of an image (not yet stored), or None if it has no gzip layer."""
        doc = load(record.content)
        wanted = to_convert(doc)
        self.tally.kept += len(doc["layers"]) - len(wanted)
        if not wanted:
            return None
        ids = diff_ids(await self._config(doc))
        if len(ids) != len(doc["layers"]):
            raise NotConvertible(
                f"{len(doc['layers'])} layers but {len(ids)} diff_ids in the config"
            )
        replaced = {i: await self._layer(i, doc["layers"][i], ids[i]) for i in wanted}
        return rewrite(doc, record.media_type, replaced)

    async def platform(self, record: ManifestRecord) -> dict[str, Any]:
        return platform_of(await self._config(load(record.content)))

    async def put(self, reference: str | None, content: bytes, media_type: str) -> Written:
        """Store a manifest, by its digest (reference None) or under a tag."""
        digest = digest_of(content)
        await self._s.manifests.put(
            self._repository, reference or digest, media_type, content, self._actor
        )
        self.tally.manifests.append(digest)
        return Written(digest, media_type, len(content))


async def _convert_index(
    conv: Converter, services: Services, repository: str, record: ManifestRecord, add: bool
) -> tuple[bytes, str] | None:
    doc = load(record.content)
    entries = [dict(e) for e in doc.get("manifests") or [] if isinstance(e, dict)]
    variants = [e.get("platform") for e in entries if is_zstd_variant(e)]
    out: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for entry in entries:
        if not convertible_child(entry) or (add and entry.get("platform") in variants):
            out.append(entry)
            continue
        child = await services.manifests.get(repository, str(entry["digest"]))
        converted = await conv.image(child)
        if converted is None:  # no gzip layer: already what a zstd client can take
            out.append(entry)
            continue
        written = await conv.put(None, *converted)
        variant = zstd_descriptor(entry, written.media_type, written.digest, written.size)
        if add:
            out.append(entry)
            added.append(variant)
        else:
            out.append(variant)
    if not added and out == entries:
        return None
    return new_index(doc, [*out, *added])


async def convert(
    conv: Converter, services: Services, repository: str, record: ManifestRecord, add: bool
) -> tuple[bytes, str] | None:
    """The manifest or index the tag will name, or None when nothing changes."""
    if record.media_type in mt.INDEXES:
        return await _convert_index(conv, services, repository, record, add)
    converted = await conv.image(record)
    if converted is None or not add:
        return converted
    written = await conv.put(None, *converted)
    platform = await conv.platform(record)
    original = descriptor(record.media_type, record.digest, record.size, platform)
    variant = zstd_descriptor(original, written.media_type, written.digest, written.size)
    return new_index(None, [original, variant])


async def run_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `convert.zstd` job: see the module docstring."""
    services = ctx.services
    try:
        repository = str(payload["repository"])
        digest = str(payload["digest"])
        tag = str(payload["tag"])
        add = bool(payload.get("add_to_index", False))
        expect = payload.get("expect")
        section = services.settings.section(NAME)
        level = int(payload.get("level", section.level))
        actor = str(payload.get("requested_by", "convert"))
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentFailure(f"bad payload: {exc!r}") from None
    conv = Converter(
        services,
        repository,
        level=level,
        threads=section.threads,
        actor=actor,
        log_line=ctx.log,
        checkpoint=ctx.checkpoint,
    )
    try:
        record = await services.manifests.get(repository, digest)
        await ctx.log(f"converting {repository}@{digest} ({record.media_type}) to zstd")
        top = await convert(conv, services, repository, record, add)
        if top is None and add:
            await ctx.log("nothing to convert: no gzip layer left; the tag is left as it is")
            return {"digest": digest, "tag": None, "changed": False, **conv.tally.as_dict()}
        if top is None:  # already zstd (or uncompressed): the new tag names it as it is
            await ctx.log("nothing to convert: no gzip layer; tagging the image as it is")
            top = (record.content, record.media_type)
        if expect is not None:
            now = await services.manifests.get(repository, tag)
            if now.digest != expect:
                raise PermanentFailure(
                    f"{repository}:{tag} moved to {now.digest} while the conversion ran: "
                    "not moved again (start the conversion anew)"
                )
        written = await conv.put(tag, *top)
    except NotConvertible as exc:
        raise PermanentFailure(f"{repository}@{digest}: {exc}") from None
    except ManifestUnknown as exc:
        raise PermanentFailure(str(exc)) from None
    except Unavailable:
        raise  # retried
    except DockyardError as exc:  # refused: a tag policy, the quota, an invalid manifest
        raise PermanentFailure(f"{type(exc).__name__}: {exc}") from None
    await ctx.log(f"{repository}:{tag} -> {written.digest} ({written.media_type})")
    log.info("convert.zstd %s@%s -> %s:%s %s", repository, digest, repository, tag, written.digest)
    return {
        "digest": written.digest,
        "media_type": written.media_type,
        "tag": tag,
        "changed": written.digest != digest,
        "source": digest,
        **conv.tally.as_dict(),
    }
