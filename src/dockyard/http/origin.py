"""Cross-site request forgery: a state-changing request that a browser sent from
another site is refused, whatever credential it carries (a cookie, or Basic
credentials the browser remembered). Browsers say where a request comes from in
`Origin` and `Sec-Fetch-Site`; clients that are not browsers send neither and pass."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from dockyard.errors import Denied
from dockyard.http.hosts import is_own_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if port is None or port == default else f"{host}:{port}"


def same_origin(request: Request, origin: str, public_url: str | None, trusted: list[str]) -> bool:
    """`origin` is this registry: its public URL, or the host the request was sent to
    when that is one of this server's names (compared by host and port: a TLS proxy
    in front changes the scheme the server sees)."""
    theirs = _netloc(origin)
    if not theirs:
        return False
    if public_url:
        return theirs == _netloc(public_url)
    host = request.url.hostname or ""
    return is_own_host(host, trusted) and theirs == _netloc(
        f"{request.url.scheme}://{request.url.netloc}"
    )


def refuse_cross_site(request: Request, public_url: str | None, trusted: list[str]) -> None:
    """Raise Denied for a browser's state-changing request from another site."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null" or not same_origin(request, origin, public_url, trusted):
            raise Denied(
                f"cross-site request refused: {request.method} from origin {origin[:100]!r}, "
                "which is not this registry"
            )
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Denied(f"cross-site request refused: {request.method} from a {site[:20]} page")
