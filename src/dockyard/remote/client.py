"""`HttpRemote`: the `Remote` protocol over httpx (pooled HTTP/1.1 connections, Docker
token auth or Basic, the distribution API's error bodies mapped to `RemoteError`s).

What arrives is checked: a manifest's bytes against the digest asked for and the
`Docker-Content-Digest` sent, its size against a limit; a blob is streamed (raw bytes,
never decompressed, never buffered) and cut short when the remote breaks off; the
caller hashes it. Every httpx exception becomes `RemoteUnavailable` naming the
endpoint and the operation; the endpoint's secret never appears in a message."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from dockyard.remote import (
    ALL_MANIFEST_TYPES,
    Descriptor,
    Endpoint,
    Health,
    Manifest,
    RateLimit,
    Referrer,
    RemoteError,
    RemoteNotFound,
    RemoteUnavailable,
)
from dockyard.remote.auth import (
    CATALOG_SCOPE,
    Authenticator,
    delete_scope,
    parse_challenge,
    pull_scope,
    push_scope,
)
from dockyard.remote.naming import api_url, remote_name
from dockyard.remote.parse import (
    digest_of,
    media_type_of,
    next_link,
    parse_rate_limit,
    parse_referrers,
    retry_after,
)
from dockyard.remote.transport import CHUNK, BlobBody, error_for, read_some, tls_verify

DEFAULT_MANIFEST_LIMIT = 4 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_PAGES = 10_000
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


class HttpRemote:
    """A client of one endpoint (shared by the coroutines of one event loop)."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = 30.0,
        manifest_limit: int = DEFAULT_MANIFEST_LIMIT,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = 1000,
    ) -> None:
        self.endpoint = endpoint
        self.rate_limit = RateLimit()
        self.manifest_limit = manifest_limit
        self.page_size = page_size
        self.base = api_url(endpoint)
        self._auth = Authenticator(endpoint)
        self._client = httpx.AsyncClient(
            base_url=self.base,
            timeout=httpx.Timeout(timeout),
            verify=tls_verify(endpoint),
            http1=True,
            http2=False,
            follow_redirects=False,
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"User-Agent": "dockyard-remote/1"},
        )

    # -- plumbing -------------------------------------------------------------------

    def _label(self, op: str, repository: str | None = None) -> str:
        where = f" {repository}" if repository else ""
        return f"{self.endpoint.name} ({self.base}): {op}{where}"

    def _scrub(self, text: str) -> str:
        secret = self.endpoint.secret
        return text.replace(secret, "***") if secret else text

    def _unavailable(self, op: str, repository: str | None, exc: BaseException) -> RemoteError:
        detail = self._scrub(str(exc)) or type(exc).__name__
        return RemoteUnavailable(f"{self._label(op, repository)}: unreachable ({detail})")

    def _observe(self, response: httpx.Response) -> None:
        limit, remaining = parse_rate_limit(response.headers)
        if limit is None and remaining is None and response.status_code != 429:
            return
        after = retry_after(response.headers) if response.status_code == 429 else None
        self.rate_limit = RateLimit(
            limit=limit if limit is not None else self.rate_limit.limit,
            remaining=remaining if remaining is not None else self.rate_limit.remaining,
            retry_after=after,
        )

    def _same_origin(self, url: httpx.URL) -> bool:
        base = httpx.URL(self.base)
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    async def _send(
        self,
        op: str,
        repository: str | None,
        method: str,
        url: str | httpx.URL,
        scopes: tuple[str, ...],
        *,
        headers: dict[str, str] | None = None,
        params: Any = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        stream: bool = False,
        retry_auth: bool = True,
    ) -> httpx.Response:
        """One request with the auth the remote asks for (one retry after a 401 that
        can be answered; a streamed body is not sent twice: callers authenticate first)."""
        for attempt in (0, 1):
            sent = dict(headers or {})
            target = httpx.URL(self.base).join(url) if isinstance(url, str) else url
            auth = self._auth.header(scopes) if self._same_origin(target) else None
            if auth is not None:
                sent["Authorization"] = auth
            try:
                request = self._client.build_request(
                    method, target, headers=sent, params=params, content=content
                )
                response = await self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise self._unavailable(op, repository, exc) from None
            self._observe(response)
            if response.status_code != 401 or attempt or not retry_auth:
                break
            challenge = parse_challenge(response.headers.get("www-authenticate"))
            if challenge is None or (challenge.scheme == "basic" and auth is not None):
                break
            if isinstance(content, AsyncIterable):
                break  # the body is spent: the caller authenticated beforehand
            if (
                challenge.scheme == "bearer"
                and auth is not None
                and not challenge.insufficient_scope
            ):
                # a token we held was refused (expired early): ask again once
                self._auth.forget(scopes)
            try:
                retry = await self._auth.answer(self._client, challenge, scopes)
            except httpx.HTTPError as exc:
                await response.aclose()
                raise self._unavailable(f"{op} (token service)", repository, exc) from None
            except RemoteError as exc:
                await response.aclose()
                raise type(exc)(
                    f"{self._label(op, repository)}: {exc}", exc.status, exc.code
                ) from None
            if retry is None:
                break
            await response.aclose()
        if not stream:
            try:
                await response.aread()
            except httpx.HTTPError as exc:
                raise self._unavailable(op, repository, exc) from None
        return response

    async def _error(
        self, op: str, repository: str | None, response: httpx.Response
    ) -> RemoteError:
        """The RemoteError for an unexpected answer (at most 64 KiB of its body read)."""
        return error_for(
            response.status_code,
            response.headers,
            await read_some(response),
            self._label(op, repository),
            self._scrub,
        )

    def _path(self, repository: str, *rest: str) -> str:
        return "/v2/" + "/".join((remote_name(self.endpoint, repository), *rest))

    # -- health ---------------------------------------------------------------------

    async def ping(self) -> Health:
        start = time.perf_counter()
        try:
            response = await self._send("ping", None, "GET", "/v2/", ())
        except RemoteError as exc:
            latency = (time.perf_counter() - start) * 1000
            reachable = not isinstance(exc, RemoteUnavailable) or exc.status is not None
            return Health(reachable, exc.status, str(exc), latency)
        latency = (time.perf_counter() - start) * 1000
        status = response.status_code
        if status == 200:
            message = "ok"
        elif status in (401, 403):
            message = (
                "the credentials were refused"
                if self._auth.has_credentials
                else ("the registry needs credentials")
            )
        else:
            message = f"GET /v2/ answered HTTP {status}"
        return Health(True, status, message, latency)

    # -- manifests ------------------------------------------------------------------

    async def head_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Descriptor | None:
        op = "HEAD manifest"
        response = await self._send(
            op,
            repository,
            "HEAD",
            self._path(repository, "manifests", reference),
            (pull_scope(remote_name(self.endpoint, repository)),),
            headers={"Accept": ", ".join(accept)},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise await self._error(op, repository, response)
        digest = response.headers.get("docker-content-digest")
        length = response.headers.get("content-length")
        if not digest or not length:
            # a remote that does not say: GET it (and check it)
            got = await self.get_manifest(repository, reference, accept)
            return Descriptor(got.digest, got.media_type, len(got.content))
        if reference.startswith("sha") and ":" in reference and digest != reference:
            raise RemoteError(f"{self._label(op, repository)}: answered {digest} for {reference}")
        media_type = (response.headers.get("content-type") or "").split(";")[0].strip()
        try:
            size = int(length)
        except ValueError:
            raise RemoteError(f"{self._label(op, repository)}: bad Content-Length") from None
        return Descriptor(digest, media_type, size)

    async def get_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Manifest:
        op = "GET manifest"
        label = self._label(op, f"{repository}:{reference}")
        response = await self._send(
            op,
            repository,
            "GET",
            self._path(repository, "manifests", reference),
            (pull_scope(remote_name(self.endpoint, repository)),),
            headers={"Accept": ", ".join(accept)},
            stream=True,
        )
        if response.status_code != 200:
            raise await self._error(op, repository, response)
        try:
            length = int(response.headers.get("content-length") or 0)
            if length > self.manifest_limit:
                raise RemoteError(f"{label}: {length} bytes, over the {self.manifest_limit} limit")
            body = bytearray()
            async for chunk in response.aiter_raw(CHUNK):
                body += chunk
                if len(body) > self.manifest_limit:
                    raise RemoteError(f"{label}: over the {self.manifest_limit}-byte limit")
        except httpx.HTTPError as exc:
            raise self._unavailable(op, repository, exc) from None
        finally:
            await response.aclose()
        content = bytes(body)
        stated = response.headers.get("docker-content-digest")
        computed = digest_of(content, reference if ":" in reference else "sha256:")
        if computed is None:
            raise RemoteError(f"{label}: unsupported digest algorithm")
        if ":" in reference and computed != reference:
            raise RemoteError(f"{label}: the bytes hash to {computed}, not the digest asked for")
        if stated and digest_of(content, stated) != stated:
            raise RemoteError(f"{label}: the bytes do not match Docker-Content-Digest {stated}")
        media_type = media_type_of(response.headers.get("content-type"), content)
        return Manifest(computed, media_type, content)

    async def put_manifest(
        self, repository: str, reference: str, media_type: str, content: bytes
    ) -> str:
        op = "PUT manifest"
        if len(content) > self.manifest_limit:
            raise RemoteError(
                f"{self._label(op, repository)}: {len(content)} bytes, over the limit"
            )
        name = remote_name(self.endpoint, repository)
        response = await self._send(
            op,
            repository,
            "PUT",
            self._path(repository, "manifests", reference),
            (push_scope(name),),
            headers={"Content-Type": media_type},
            content=content,
        )
        if response.status_code not in (200, 201, 202):
            raise await self._error(op, repository, response)
        computed = hashlib.sha256(content).hexdigest()
        answered = response.headers.get("docker-content-digest") or f"sha256:{computed}"
        if digest_of(content, answered) != answered:
            raise RemoteError(
                f"{self._label(op, repository)}: the remote answered digest {answered},"
                f" the manifest is sha256:{computed}"
            )
        return answered

    async def _delete(self, op: str, repository: str, path: str) -> httpx.Response:
        name = remote_name(self.endpoint, repository)
        return await self._send(op, repository, "DELETE", path, (delete_scope(name),))

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        op = "DELETE manifest"
        response = await self._delete(op, repository, self._path(repository, "manifests", digest))
        if response.status_code in (200, 202, 204):
            return True
        if response.status_code == 404:
            return False
        raise await self._error(op, repository, response)

    async def delete_tag(self, repository: str, tag: str) -> bool:
        op = "DELETE tag"
        response = await self._delete(op, repository, self._path(repository, "manifests", tag))
        if response.status_code in (200, 202, 204):
            return True
        if response.status_code in (400, 404, 405):
            return False  # absent, or a remote that deletes by digest only
        raise await self._error(op, repository, response)

    # -- blobs ----------------------------------------------------------------------

    async def head_blob(self, repository: str, digest: str) -> int | None:
        op = "HEAD blob"
        url: str | httpx.URL = self._path(repository, "blobs", digest)
        scopes = (pull_scope(remote_name(self.endpoint, repository)),)
        for _ in range(MAX_REDIRECTS):
            response = await self._send(op, repository, "HEAD", url, scopes)
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                url = response.url.join(response.headers["location"])
                continue
            break
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise await self._error(op, repository, response)
        try:
            return int(response.headers.get("content-length", ""))
        except ValueError:
            raise RemoteError(f"{self._label(op, repository)}: no Content-Length") from None

    @asynccontextmanager
    async def get_blob(self, repository: str, digest: str) -> AsyncIterator[BlobBody]:
        op = "GET blob"
        label = self._label(op, f"{repository}@{digest}")
        url: str | httpx.URL = self._path(repository, "blobs", digest)
        scopes = (pull_scope(remote_name(self.endpoint, repository)),)
        # identity: the bytes as stored (a layer is already compressed; a server that
        # labels it Content-Encoding gzip must not have it decoded)
        headers = {"Accept-Encoding": "identity"}
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._send(
                op, repository, "GET", url, scopes, headers=headers, stream=True
            )
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                # a presigned storage URL: _send sends no credentials off this origin
                url = response.url.join(response.headers["location"])
                await response.aclose()
                continue
            break
        else:
            await response.aclose()
            raise RemoteError(f"{label}: too many redirects")
        if response.status_code != 200:
            raise await self._error(op, repository, response)
        try:
            length = response.headers.get("content-length")
            size = int(length) if length is not None else None
            yield BlobBody(size, response, label)
        finally:
            await response.aclose()

    async def _open_upload(
        self, op: str, repository: str, scopes: tuple[str, ...], params: dict[str, str] | None
    ) -> httpx.Response:
        return await self._send(
            op,
            repository,
            "POST",
            self._path(repository, "blobs", "uploads/"),
            scopes,
            params=params,
            headers={"Content-Length": "0"},
        )

    async def _cancel(
        self, op: str, repository: str, location: str | None, scopes: tuple[str, ...]
    ) -> None:
        if not location:
            return
        with contextlib.suppress(RemoteError):  # the remote purges stale uploads itself
            await self._send(op, repository, "DELETE", location, scopes)

    async def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        op = "mount blob"
        name = remote_name(self.endpoint, repository)
        source_name = remote_name(self.endpoint, source)
        scopes = (push_scope(name), pull_scope(source_name))
        response = await self._open_upload(
            op, repository, scopes, {"mount": digest, "from": source_name}
        )
        if response.status_code == 201:
            return True
        if response.status_code == 202:
            await self._cancel(op, repository, response.headers.get("location"), scopes)
            return False
        raise await self._error(op, repository, response)

    async def push_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None:
        op = "push blob"
        label = self._label(op, f"{repository}@{digest}")
        scopes = (push_scope(remote_name(self.endpoint, repository)),)
        opened = await self._open_upload(op, repository, scopes, None)
        if opened.status_code != 202:
            raise await self._error(op, repository, opened)
        location = opened.headers.get("location")
        if not location:
            raise RemoteError(f"{label}: the upload answer had no Location")
        target = opened.url.join(location)
        target = target.copy_merge_params({"digest": digest})
        sent = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal sent
            async for chunk in body:
                sent += len(chunk)
                if sent > size:
                    raise RemoteError(f"{label}: the body is longer than {size} bytes")
                yield chunk

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            response = await self._send(
                op, repository, "PUT", target, scopes, headers=headers, content=counted()
            )
        except RemoteError:
            await self._cancel(op, repository, str(target.copy_remove_param("digest")), scopes)
            raise
        if response.status_code not in (201, 204):
            error = await self._error(op, repository, response)
            await self._cancel(op, repository, str(target.copy_remove_param("digest")), scopes)
            raise error
        if sent != size:
            raise RemoteError(f"{label}: sent {sent} bytes, not {size}")
        answered = response.headers.get("docker-content-digest")
        if answered and answered != digest:
            raise RemoteError(f"{label}: the remote stored it as {answered}")

    # -- listings -------------------------------------------------------------------

    async def _pages(
        self,
        op: str,
        repository: str | None,
        path: str,
        scopes: tuple[str, ...],
        key: str,
        headers: dict[str, str] | None = None,
    ) -> list[Any]:
        found: list[Any] = []
        url: str | httpx.URL | None = path
        params: dict[str, str] | None = {"n": str(self.page_size)}
        seen: set[str] = set()
        while url is not None and len(seen) < MAX_PAGES:
            response = await self._send(
                op, repository, "GET", url, scopes, params=params, headers=headers
            )
            if response.status_code != 200:
                raise await self._error(op, repository, response)
            try:
                page = response.json().get(key) or []
            except (ValueError, AttributeError):
                raise RemoteError(f"{self._label(op, repository)}: not a JSON listing") from None
            if not isinstance(page, list):
                raise RemoteError(f"{self._label(op, repository)}: `{key}` is not a list")
            found.extend(page)
            link = next_link(response.headers.get("link"))
            if link is None:
                break
            url = response.url.join(link)
            if str(url) in seen:
                break  # a remote sending the same page again
            seen.add(str(url))
            params = None
        return found

    async def tags(self, repository: str) -> list[str]:
        name = remote_name(self.endpoint, repository)
        tags = await self._pages(
            "list tags",
            repository,
            self._path(repository, "tags", "list"),
            (pull_scope(name),),
            "tags",
        )
        return [t for t in tags if isinstance(t, str)]

    async def repositories(self, namespace: str | None = None) -> list[str]:
        if self.endpoint.kind == "harbor":
            from dockyard.remote.harbor import harbor_repositories

            return await harbor_repositories(self, namespace)
        names = await self._pages("catalog", None, "/v2/_catalog", (CATALOG_SCOPE,), "repositories")
        prefix = None if not namespace else namespace.strip("/") + "/"
        return [n for n in names if isinstance(n, str) and (prefix is None or n.startswith(prefix))]

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        op = "referrers"
        name = remote_name(self.endpoint, repository)
        scopes = (pull_scope(name),)
        response = await self._send(
            op,
            repository,
            "GET",
            self._path(repository, "referrers", digest),
            scopes,
            headers={"Accept": INDEX_TYPE},
        )
        if response.status_code == 200:
            try:
                manifests = await self._referrer_pages(response, op, repository, scopes)
            except ValueError:
                raise RemoteError(f"{self._label(op, repository)}: not an index") from None
            return parse_referrers(manifests)
        error = await self._error(op, repository, response)
        if response.status_code == 404 and error.code == "NAME_UNKNOWN":
            raise error
        if response.status_code not in (400, 404, 405):
            raise error
        # no referrers API: the tag schema (an index tagged sha256-<hex>)
        algorithm, _, hexpart = digest.partition(":")
        try:
            index = await self.get_manifest(repository, f"{algorithm}-{hexpart}"[:128])
        except RemoteNotFound:
            return []
        try:
            manifests = json.loads(index.content).get("manifests") or []
        except (ValueError, AttributeError):
            raise RemoteError(
                f"{self._label(op, repository)}: the referrers tag is not an index"
            ) from None
        return parse_referrers(manifests)

    async def _referrer_pages(
        self, first: httpx.Response, op: str, repository: str, scopes: tuple[str, ...]
    ) -> list[Any]:
        manifests: list[Any] = list(first.json().get("manifests") or [])
        response = first
        for _ in range(MAX_PAGES):
            link = next_link(response.headers.get("link"))
            if link is None:
                break
            response = await self._send(
                op,
                repository,
                "GET",
                response.url.join(link),
                scopes,
                headers={"Accept": INDEX_TYPE},
            )
            if response.status_code != 200:
                raise await self._error(op, repository, response)
            manifests.extend(response.json().get("manifests") or [])
        return manifests

    async def close(self) -> None:
        await self._client.aclose()

    # for harbor.py: a JSON GET with Basic credentials on the endpoint's own origin
    async def api_get(self, op: str, path: str, params: dict[str, str]) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if self._auth.has_credentials:
            headers["Authorization"] = self._auth.basic_header()
        try:
            response = await self._client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise self._unavailable(op, None, exc) from None
        self._observe(response)
        return response

    async def api_error(self, op: str, response: httpx.Response) -> RemoteError:
        return await self._error(op, None, response)
