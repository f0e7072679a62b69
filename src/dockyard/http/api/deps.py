"""What every API route needs: who is calling, the services to call, and paging
headers. Who may do what is the domain services' business (dockyard.accounts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request, Response
from starlette.requests import Request as StarletteRequest

from dockyard.accounts.guard import Actor
from dockyard.auth.permissions import ANONYMOUS, Principal
from dockyard.errors import Unauthorized
from dockyard.http.api.routing import SCOPE_KEY
from dockyard.http.gate import client_address, principal_of
from dockyard.metadata.identity import Page, ProjectRecord

if TYPE_CHECKING:
    from dockyard.context import Services
    from dockyard.http.context import HttpApp

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def dockyard_app(request: Request) -> HttpApp:
    app: HttpApp | None = request.scope.get(SCOPE_KEY)
    if app is None:
        raise RuntimeError("the management API must be reached through the dispatcher")
    return app


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling (as the domain services' Actor) and the services to call."""

    principal: Principal
    address: str
    services: Services

    @property
    def actor(self) -> Actor:
        return Actor(self.principal, self.address)

    @property
    def anonymous(self) -> bool:
        return self.principal.anonymous

    def require_login(self) -> None:
        self.services.guard.login(self.actor)

    def require_admin(self, what: str) -> None:
        self.services.guard.admin(self.actor, what)

    async def project(self, name: str, action: str | None) -> ProjectRecord:
        return await self.services.guard.project(self.actor, name, action)


async def caller(request: Request) -> Caller:
    """Basic credentials, a browser session, or a bearer token from /auth/token.

    A bearer token counts as proof of who its subject is only when it was issued
    without repository scopes (`GET /auth/token?service=…` with no `scope`): a token
    narrowed to pulling one repository must not become a key to the whole API. The
    subject is looked up afresh, so disabling a user or robot takes effect at once.
    """
    app = dockyard_app(request)
    services = app.services
    # the gate reads settings through scope["app"], which FastAPI has taken over
    gate_request = StarletteRequest({**request.scope, "app": app}, request.receive)
    try:
        principal, how = await principal_of(gate_request, services.auth)
    except Unauthorized as exc:
        raise Unauthorized(exc.message) from None  # the API answers with a Basic challenge
    if how == "bearer":
        if principal.token_access:
            raise Unauthorized(
                "a repository-scoped token is for /v2/: use one issued without scope"
            )
        if principal.kind == "anonymous":
            principal = ANONYMOUS
        else:
            found = await services.auth.principal_named(principal.kind, principal.name)
            if found is None:
                raise Unauthorized("the token's subject is disabled or gone")
            principal = found[0]
    return Caller(principal, client_address(gate_request), services)


Ctx = Annotated[Caller, Depends(caller)]


def paging(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="entries per page")
    ] = DEFAULT_PAGE_SIZE,
) -> Page:
    return Page(page, page_size)


Paging = Annotated[Page, Depends(paging)]


def paged(request: Request, response: Response, page: Page, total: int) -> None:
    """`X-Total-Count` and an RFC 5988 `Link` header (first, prev, next, last)."""
    response.headers["X-Total-Count"] = str(total)
    last = max(1, -(-total // page.size))
    links = {"first": 1, "last": last}
    if page.number > 1:
        links["prev"] = min(page.number - 1, last)
    if page.number < last:
        links["next"] = page.number + 1
    parts = []
    for rel, number in links.items():
        url = request.url.include_query_params(page=number, page_size=page.size)
        parts.append(f'<{url.path}?{url.query}>; rel="{rel}"')
    response.headers["Link"] = ", ".join(parts)


def next_after(request: Request, response: Response, **bound: int) -> None:
    """A `Link` header to the next page of a listing paged by id (`before` or
    `after` the last id of this one), set only when there is one."""
    url = request.url.include_query_params(**bound)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


def page_of(items: list[Any], page: Page) -> list[Any]:
    return items[page.offset : page.offset + page.size]


PAGE_HEADERS = {
    "X-Total-Count": {
        "description": "entries across all pages",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "Link": {
        "description": 'RFC 5988 links to the first, prev, next and last pages (`rel="next"`)',
        "schema": {"type": "string"},
    },
}
NEXT_HEADERS = {
    "Link": {
        "description": 'RFC 5988 link to the next page (`rel="next"`), when there is one',
        "schema": {"type": "string"},
    },
}
