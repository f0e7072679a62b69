"""What the admin commands share: a client of the management API, the connection
options every command takes, output as a table or JSON, and one-line errors.

No `from __future__ import annotations` here: typer reads the annotations of the
signatures built below, which must be objects, not strings.
"""

import functools
import inspect
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any
from urllib.parse import quote

import typer

DEFAULT_URL = "http://127.0.0.1:5000"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?", re.IGNORECASE)


class CliError(Exception):
    """Shown as `dockyard: <message>`, exit status 1."""


def segment(value: str) -> str:
    """A value as one URL path segment (robot names keep their `$` and `+`)."""
    return quote(value, safe="$+")


def parse_size(text: str) -> int | None:
    """`10GiB`, `500MB`, `1.5G`, `1024` (bytes); `none` or `unlimited` for no quota."""
    if text.strip().lower() in ("none", "unlimited"):
        return None
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise CliError(f"not a size: {text!r} (try 10GiB, 500MB or none)")
    number, unit, binary = m.groups()
    power = "kmgtp".index(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def human_size(value: int | None) -> str:
    if value is None:
        return "unlimited"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


class Api:
    """The management API at `url`, as a user (basic) or with a bearer token."""

    def __init__(self, url: str, username: str | None, password: str | None, token: str | None):
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (username, password or "") if username and not token else None
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1", auth=auth, headers=headers, timeout=60.0
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self._send(method, path, **kwargs)
        return _json(r.content) if r.content else None

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.url}: {exc}") from None
        if r.status_code >= 400:
            raise CliError(_message(r.status_code, r.content))
        return r

    def all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every page of a list."""
        out: list[Any] = []
        page = 1
        while True:
            r = self._send("GET", path, params={**(params or {}), "page": page, "page_size": 100})
            got = _json(r.content)
            out.extend(got)
            if not got or len(out) >= int(r.headers.get("x-total-count", "0")):
                return out
            page += 1


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise CliError("the server's answer is not JSON: is --url a Dockyard?") from None


def _message(status: int, body: bytes) -> str:
    try:
        errors = json.loads(body)["errors"]
        return "; ".join(str(e["message"]) for e in errors) or f"HTTP {status}"
    except (ValueError, KeyError, TypeError):
        return f"the server answered HTTP {status}"


def emit(data: Any, columns: list[str], as_json: bool) -> None:
    """JSON as the API gave it, or a table of `columns` (`field` or `field:heading`)."""
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    rows = data if isinstance(data, list) else [data]
    fields = [c.split(":", 1)[0] for c in columns]
    table = Table(*(c.split(":", 1)[-1].replace("_", " ").upper() for c in columns))
    for row in rows:
        table.add_row(*(_cell(row.get(f)) for f in fields))
    Console(width=max(160, Console().width)).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) if not isinstance(v, dict) else _grant(v) for v in value)
    return str(value)


def _grant(g: dict[str, Any]) -> str:
    repos = ",".join(g.get("repositories") or []) or "*"
    return f"{g.get('project')}:{repos}:{','.join(g.get('actions') or [])}"


# -- the options every command takes --------------------------------------------

_COMMON = [
    inspect.Parameter(
        "dy_url",
        inspect.Parameter.KEYWORD_ONLY,
        default=DEFAULT_URL,
        annotation=Annotated[
            str,
            typer.Option("--url", envvar="DOCKYARD_URL", help="Dockyard's address."),
        ],
    ),
    inspect.Parameter(
        "dy_username",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None, typer.Option("--username", "-u", envvar="DOCKYARD_USERNAME")
        ],
    ),
    inspect.Parameter(
        "dy_password",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--password", "-p", envvar="DOCKYARD_PASSWORD", help="Asked for when not given."
            ),
        ],
    ),
    inspect.Parameter(
        "dy_token",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--token", envvar="DOCKYARD_TOKEN", help="A bearer token instead of a password."
            ),
        ],
    ),
    inspect.Parameter(
        "dy_json",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")],
    ),
]
_COMMON_NAMES = [p.name for p in _COMMON]


def command(app: typer.Typer, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register `func(api, as_json, ...)` as `name`, with the connection options added
    and its failures shown as one line."""

    def register(func: Callable[..., None]) -> Callable[..., None]:
        own = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.name not in ("api", "as_json")
        ]

        @functools.wraps(func)
        def run(**kwargs: Any) -> None:
            conn = {k.removeprefix("dy_"): kwargs.pop(k) for k in _COMMON_NAMES}
            password = conn["password"]
            if conn["username"] and password is None and not conn["token"]:
                if not sys.stdin.isatty():
                    typer.echo(
                        "dockyard: no password: give --password or $DOCKYARD_PASSWORD", err=True
                    )
                    raise typer.Exit(1)
                password = typer.prompt("Password", hide_input=True)
            with _connected(conn["url"], conn["username"], password, conn["token"]) as api:
                func(api=api, as_json=conn["json"], **kwargs)

        run.__signature__ = inspect.Signature([*own, *_COMMON])  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in [*own, *_COMMON]}
        app.command(name)(run)
        return func

    return register


class _connected:
    """An Api for the block; a CliError inside becomes `dockyard: …` and exit 1."""

    def __init__(self, url: str, username: str | None, password: str | None, token: str | None):
        self.api = Api(url, username, password, token)

    def __enter__(self) -> Api:
        return self.api

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        self.api.close()
        if isinstance(exc, CliError):
            typer.echo(f"dockyard: {exc}", err=True)
            raise typer.Exit(1)


def chunks(values: list[str] | None) -> Iterator[str]:
    """Values of a repeatable option, each possibly comma-separated."""
    for value in values or []:
        yield from (v.strip() for v in value.split(",") if v.strip())


def finished_job(api: Api, job_id: int, timeout: float, *, quiet: bool) -> Any:
    """Poll a job another process runs until it leaves queued/running (its state shown on
    stderr unless `quiet`); a CliError once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    job = api.call("GET", f"/jobs/{job_id}")
    while job["state"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise CliError(f"job {job_id} still {job['state']} after {timeout:.0f}s")
        if not quiet:
            typer.echo(f"job {job_id}: {job['state']}…", err=True)
        time.sleep(1.0)  # polling a job another process runs
        job = api.call("GET", f"/jobs/{job_id}")
    return job
