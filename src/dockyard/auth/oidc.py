"""OpenID Connect authorization-code login (with PKCE) against one provider.

    client = OidcClient(settings.auth.oidc)
    url, pending = await client.begin(redirect_uri)   # keep `pending` secret (signed cookie)
    ...the browser logs in at `url` and comes back to redirect_uri?code=…&state=…
    identity = await client.finish(pending, request.query_params)

HTTP goes through authlib's httpx client (`AsyncOAuth2Client`); the ID token is
checked the way authlib's own OpenID integrations do: signature against the
provider's JWKS with joserfc (authlib's JOSE backend), then the claims with
`authlib.oidc.core.CodeIDToken` (iss, aud, exp, iat, nonce, azp, at_hash).
Claims the ID token lacks are taken from the userinfo endpoint.

Provider discovery and the JWKS are fetched once and cached on the instance
(the JWKS is fetched again when a token names a key it does not hold).

Errors: `IdentityProviderUnavailable` when the provider cannot be reached or
answers wrongly, or rejects *our* client credentials (a configuration fault that
no user can fix); `OidcLoginError` for a login that must be refused (state or
nonce mismatch, error from the provider, bad or reused code, invalid ID token,
no username). Messages are one line and carry no secret, code or token.
"""

from __future__ import annotations

import hmac
import re
import secrets
import ssl
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from dockyard.auth.identity import ExternalIdentity, IdentityProviderUnavailable
from dockyard.config.auth import OidcSettings

with warnings.catch_warnings():
    # authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["OidcClient", "OidcLoginError"]

TIMEOUT_SECONDS = 10.0
CLOCK_LEEWAY_SECONDS = 60
PENDING_KEYS = ("state", "nonce", "code_verifier", "redirect_uri")
# the token endpoint says our client is misconfigured, not that the login is bad
CLIENT_FAULTS = frozenset({"invalid_client", "unauthorized_client", "unsupported_grant_type"})
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class OidcLoginError(Exception):
    """The login is refused: the person must start again (not a provider outage)."""


def _safe_text(value: object, limit: int = 160) -> str:
    """Provider-supplied text for a one-line message: printable, single line, short."""
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return " ".join(text.split())[:limit]


class OidcClient:
    """Authorization-code login with one OpenID provider, as `settings` describe it."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._issuer = settings.issuer.rstrip("/")
        self._metadata: dict[str, Any] | None = None
        self._jwks: KeySet | None = None
        self._verify: ssl.SSLContext | bool | None = None

    # -- the two halves of a login --------------------------------------------

    async def begin(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The provider's authorization URL to send the browser to, and the per-login
        secrets (state, nonce, PKCE code_verifier, redirect_uri) the caller keeps
        until `finish`."""
        metadata = await self._discover()
        pending = {
            "state": secrets.token_urlsafe(32),
            "nonce": secrets.token_urlsafe(32),
            "code_verifier": secrets.token_urlsafe(64),
            "redirect_uri": redirect_uri,
        }
        async with self._client(metadata) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=pending["state"],
                code_verifier=pending["code_verifier"],
                nonce=pending["nonce"],
                redirect_uri=redirect_uri,
            )
        return str(url), pending

    async def finish(
        self, pending: Mapping[str, str], params: Mapping[str, str]
    ) -> ExternalIdentity:
        """Check the provider's redirect (`params`: the callback's query) against
        `pending` from `begin`, redeem the code, validate the ID token, and say who
        logged in."""
        if any(not isinstance(pending.get(k), str) or not pending[k] for k in PENDING_KEYS):
            raise OidcLoginError("no login in progress (missing or incomplete login state)")
        state = params.get("state") or ""
        if not hmac.compare_digest(state.encode(), pending["state"].encode()):
            raise OidcLoginError("state mismatch: the login was not started here")
        metadata = await self._discover()
        issuer = params.get("iss")
        if issuer is not None and issuer.rstrip("/") != self._issuer:
            raise OidcLoginError("the callback names another issuer")
        if issuer is None and metadata.get("authorization_response_iss_parameter_supported"):
            raise OidcLoginError("the callback lacks the issuer parameter")
        if "error" in params:
            error = params["error"]
            name = error if _ERROR_CODE.fullmatch(error) else "unknown_error"
            detail = _safe_text(params.get("error_description", ""))
            message = f"the provider refused the login: {name}"
            raise OidcLoginError(f"{message}: {detail}" if detail else message)
        code = params.get("code")
        if not code:
            raise OidcLoginError("the callback carries no authorization code")

        async with self._client(metadata) as client:
            token = await self._redeem(client, metadata, code, pending)
            claims = await self._id_token_claims(metadata, token, pending["nonce"])
            s = self.settings
            wanted = (s.username_claim, s.email_claim, s.groups_claim)
            if any(c not in claims for c in wanted) and metadata.get("userinfo_endpoint"):
                claims = {**await self._userinfo(client, metadata, claims["sub"]), **claims}
        return self._identity(claims)

    # -- steps ------------------------------------------------------------------

    async def _redeem(
        self,
        client: AsyncOAuth2Client,
        metadata: Mapping[str, Any],
        code: str,
        pending: Mapping[str, str],
    ) -> dict[str, Any]:
        try:
            token = await client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending["code_verifier"],
                redirect_uri=pending["redirect_uri"],
            )
        except OAuthError as exc:
            error = str(exc.error) if _ERROR_CODE.fullmatch(str(exc.error)) else "unknown_error"
            if error in CLIENT_FAULTS:
                raise IdentityProviderUnavailable(
                    f"OIDC provider {self._issuer} rejected the client credentials: {error}"
                ) from None
            raise OidcLoginError(f"the provider refused the authorization code: {error}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable("token request failed", exc) from exc
        if not isinstance(token.get("id_token"), str):
            raise IdentityProviderUnavailable(
                f"OIDC provider {self._issuer} returned no ID token (is 'openid' in oidc.scopes?)"
            )
        return dict(token)

    async def _id_token_claims(
        self, metadata: Mapping[str, Any], token: Mapping[str, Any], nonce: str
    ) -> dict[str, Any]:
        algorithms = [
            a
            for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            if a != "none"
        ]
        try:
            try:
                decoded = jwt.decode(token["id_token"], await self._keys(), algorithms=algorithms)
            except InvalidKeyIdError:  # the provider may have rotated its keys
                decoded = jwt.decode(
                    token["id_token"], await self._keys(refresh=True), algorithms=algorithms
                )
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": self.settings.client_id},
                },
                {
                    "nonce": nonce,
                    "client_id": self.settings.client_id,
                    "access_token": token.get("access_token"),
                },
            )
            claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
        except JoseError as exc:
            raise OidcLoginError(f"invalid ID token: {exc.error}") from None
        if claims.get("nonce") != nonce:  # CodeIDToken checks it; be explicit anyway
            raise OidcLoginError("invalid ID token: nonce mismatch")
        return dict(claims)

    async def _userinfo(
        self, client: AsyncOAuth2Client, metadata: Mapping[str, Any], subject: str
    ) -> dict[str, Any]:
        try:
            response = await client.get(metadata["userinfo_endpoint"])
            response.raise_for_status()
            info = response.json()
        except (httpx.HTTPError, ValueError, OAuthError) as exc:
            raise self._unavailable("userinfo request failed", exc) from exc
        if not isinstance(info, dict):
            raise IdentityProviderUnavailable(f"OIDC provider {self._issuer}: bad userinfo")
        if info.get("sub") != subject:
            raise OidcLoginError("userinfo is about another subject than the ID token")
        return info

    def _identity(self, claims: Mapping[str, Any]) -> ExternalIdentity:
        s = self.settings
        username = claims.get(s.username_claim)
        if not isinstance(username, str) or not username.strip():
            raise OidcLoginError(f"the provider sent no {s.username_claim!r} claim")
        email = claims.get(s.email_claim)
        raw_groups = claims.get(s.groups_claim)
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        if not isinstance(raw_groups, list):
            raw_groups = []
        groups = tuple(g for g in raw_groups if isinstance(g, str) and g)
        return ExternalIdentity(
            username=username.strip(),
            email=email if isinstance(email, str) and email else None,
            groups=groups,
            is_admin=s.admin_group is not None and s.admin_group in groups,
            subject=str(claims["sub"]),
        )

    # -- provider metadata, keys, HTTP ------------------------------------------

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is not None:
            return self._metadata
        url = f"{self._issuer}/.well-known/openid-configuration"
        try:
            async with self._client() as client:
                response = await client.request("GET", url, withhold_token=True)
                response.raise_for_status()
                metadata = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable("discovery failed", exc) from exc
        if (
            not isinstance(metadata, dict)
            or str(metadata.get("issuer", "")).rstrip("/") != self._issuer
        ):
            raise IdentityProviderUnavailable(
                f"OIDC provider {self._issuer}: discovery names another issuer"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(key), str):
                raise IdentityProviderUnavailable(
                    f"OIDC provider {self._issuer}: discovery lacks {key}"
                )
        self._metadata = metadata
        return metadata

    async def _keys(self, *, refresh: bool = False) -> KeySet:
        if self._jwks is not None and not refresh:
            return self._jwks
        metadata = await self._discover()
        try:
            async with self._client() as client:
                response = await client.request("GET", metadata["jwks_uri"], withhold_token=True)
                response.raise_for_status()
                self._jwks = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise self._unavailable("JWKS could not be loaded", exc) from exc
        return self._jwks

    def _client(self, metadata: Mapping[str, Any] | None = None) -> AsyncOAuth2Client:
        auth_method = "client_secret_basic"
        if metadata is not None:
            supported = metadata.get("token_endpoint_auth_methods_supported") or [auth_method]
            if auth_method not in supported:
                if "client_secret_post" not in supported:
                    raise IdentityProviderUnavailable(
                        f"OIDC provider {self._issuer} supports neither client_secret_basic "
                        "nor client_secret_post"
                    )
                auth_method = "client_secret_post"
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret.get_secret_value(),
            token_endpoint_auth_method=auth_method,
            scope=" ".join(self.settings.scopes),
            code_challenge_method="S256",
            verify=self._tls(),
            timeout=TIMEOUT_SECONDS,
        )

    def _tls(self) -> ssl.SSLContext | bool:
        if self._verify is None:
            if not self.settings.verify_tls:
                self._verify = False
            elif self.settings.ca_file is None:
                self._verify = True
            else:
                try:
                    self._verify = ssl.create_default_context(cafile=str(self.settings.ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise self._unavailable("oidc.ca_file cannot be loaded", exc) from exc
        return self._verify

    def _unavailable(self, what: str, exc: BaseException) -> IdentityProviderUnavailable:
        cause = type(exc).__name__
        if isinstance(exc, httpx.HTTPStatusError):
            cause = f"HTTP {exc.response.status_code}"
        return IdentityProviderUnavailable(f"OIDC provider {self._issuer}: {what} ({cause})")
