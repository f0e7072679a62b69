"""A real OpenID provider on loopback for tests: `oidc-provider` (Node.js).

tests/support/oidc/provider.mjs runs panva's oidc-provider, version pinned in
tests/support/oidc/package.json and installed there by
scripts/install-test-deps.sh. It serves one confidential client
(client_secret_basic, PKCE required) and two accounts:

    alice  groups ["team-a-devs", "registry-admins"], alice@example.org
    bob    groups ["team-b"], bob@example.org

(`sub` = `preferred_username` = the account id; `groups` comes with the
`groups` scope, and — the provider's default — only through userinfo, not in
the ID token.) The client is a "native" client, so a loopback redirect URI
registered without a port matches on any port (RFC 8252 §7.3):

    with run_oidc_provider(tmp, [LOOPBACK_CALLBACK]) as op:
        # http://127.0.0.1:<any port>/auth/oidc/callback is accepted
        callback = op.login(authorization_url, "alice")   # -> ...?code=…&state=…&iss=…

`login` plays the browser: it follows the provider's redirects, fills in its
login form (any password is good for alice and bob) and consent form, and
returns the final redirect to the relying party without following it. An
unknown account ends in a redirect with `error=access_denied`.

The process is started on a free port, awaited by its `ready` line, and
stopped by its PID (its own process group) at the end.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.support.processes import stop_process_group
from tests.support.server import free_port

HERE = Path(__file__).resolve().parent / "oidc"
LOOPBACK_CALLBACK = "http://127.0.0.1/auth/oidc/callback"
"""Registered by the session fixture: the Dockyard callback on any 127.0.0.1 port."""


def provider_installed() -> bool:
    return (HERE / "node_modules" / "oidc-provider").is_dir() and shutil.which("node") is not None


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")


class OidcLoginFailed(Exception):
    """The provider did not let the test browser through to the relying party."""


@dataclass
class OidcProvider:
    issuer: str
    port: int
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def dockyard_env(self, admin_group: str = "registry-admins") -> dict[str, str]:
        """The environment that makes a Dockyard server use this provider (alice, in
        `registry-admins`, becomes an administrator)."""
        return {
            "DOCKYARD__AUTH__OIDC__ENABLED": "true",
            "DOCKYARD__AUTH__OIDC__ISSUER": self.issuer,
            "DOCKYARD__AUTH__OIDC__CLIENT_ID": self.client_id,
            "DOCKYARD__AUTH__OIDC__CLIENT_SECRET": self.client_secret,
            "DOCKYARD__AUTH__OIDC__ADMIN_GROUP": admin_group,
        }

    def login(self, authorization_url: str, username: str, password: str = "any") -> str:
        """Drive the browser part of a login: open `authorization_url`, sign in as
        `username`, consent, and return the URL the provider finally redirects to
        (the relying party's callback with `code` and `state`, or with `error`)."""
        redirect_uri = parse_qs(urlsplit(authorization_url).query)["redirect_uri"][0]
        target = urlsplit(redirect_uri)
        logins = 0
        with httpx.Client(timeout=10.0, follow_redirects=False) as browser:
            response = browser.get(authorization_url)
            for _ in range(20):
                if response.is_redirect:
                    location = urljoin(str(response.url), response.headers["location"])
                    where = urlsplit(location)
                    if (where.hostname, where.path) == (target.hostname, target.path) and (
                        where.scheme == target.scheme
                    ):
                        return location
                    response = browser.get(location)
                    continue
                if response.status_code != 200:
                    raise OidcLoginFailed(f"provider answered {response.status_code}")
                parser = _FormParser()
                parser.feed(response.text)
                form = next((f for f in parser.forms if f.method == "post"), None)
                if form is None:
                    raise OidcLoginFailed("provider page has no form to submit")
                data = dict(form.fields)
                if "login" in data:
                    logins += 1
                    if logins > 1:
                        raise OidcLoginFailed(f"provider did not accept the login {username!r}")
                    data.update(login=username, password=password)
                response = browser.post(urljoin(str(response.url), form.action), data=data)
        raise OidcLoginFailed("too many steps before the redirect to the relying party")


def _wait_ready(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for the `ready` line on the provider's stdout (or its exit)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"OpenID provider not ready after {timeout}s")
    line = proc.stdout.readline().decode(errors="replace")
    if not line.startswith("ready "):
        proc.wait(timeout=10)
        raise RuntimeError(f"OpenID provider exited with {proc.returncode}: {line!r}")


@contextmanager
def run_oidc_provider(
    tmp: Path,
    redirect_uris: list[str],
    *,
    client_id: str = "dockyard",
    timeout: float = 30.0,
) -> Iterator[OidcProvider]:
    """Start oidc-provider on a free 127.0.0.1 port with one client allowed to
    redirect to `redirect_uris` (port-less loopback URIs match any port); stop it
    (by PID) on exit. Its stderr goes to tmp/oidc-provider-<port>.log."""
    if not provider_installed():
        raise RuntimeError("oidc-provider is not installed: run scripts/install-test-deps.sh")
    port = free_port()
    client_secret = secrets.token_urlsafe(24)
    tmp.mkdir(parents=True, exist_ok=True)
    log_path = tmp / f"oidc-provider-{port}.log"
    env = {
        **os.environ,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URIS": " ".join(redirect_uris),
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["node", str(HERE / "provider.mjs"), str(port)],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=HERE,
            start_new_session=True,  # its own process group: stopped as one below
        )
    try:
        _wait_ready(proc, timeout)
        yield OidcProvider(
            issuer=f"http://127.0.0.1:{port}",
            port=port,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=list(redirect_uris),
            process=proc,
            log_path=log_path,
        )
    finally:
        stop_process_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
