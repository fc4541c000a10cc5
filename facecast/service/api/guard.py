"""The request guard: checks that cost nothing run before a request body is read.

In order: the Host header names this server (a DNS-rebinding page cannot reach it under another name);
a cross-site browser request without a valid key is refused (a web page cannot drive a keyless local server);
the API key is checked from the headers alone (and the caller it names is left in the request's state for the
routes, with its per-key rate limit applied); ids in the path and query may not hold NUL (databases refuse
it); the body is capped per route while it streams in, so an oversized or unauthenticated upload is answered at
once instead of being spooled to disk first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..keys import Authenticator, RateLimiter
from ..problems import RateLimitedError, problem_response, retry_after, status_for
from ..tenants import Caller
from .credentials import presented_key
from .threads import in_db_thread

if TYPE_CHECKING:
    from ..settings import Settings

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATHS = frozenset({"/v1/templates", "/v1/audio"})  # multipart routes; everything else takes JSON or nothing
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
DOC_PATHS = frozenset({"/docs", "/redoc", "/openapi.json", "/metrics", "/v1/tools/openapi.json"})
KEYED_PREFIXES = ("/v1/", "/easy/", "/api/")
KEY_HINT = "missing or wrong API key; send Authorization: Bearer <key> or X-API-Key: <key>"


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """What the guard enforces; the service derives it from its settings (`policy_for`)."""

    allowed_hosts: frozenset[str]               # host names (no port) this server answers to; "*" for any
    max_json_bytes: int                         # bodies of JSON routes
    max_upload_bytes: int                       # multipart uploads (template and audio files)
    auth: Authenticator                         # config and database keys; none at all means no authentication
    docs_require_key: bool                      # /docs, /openapi.json and /metrics need a key too
    limiter: RateLimiter                        # per-key request rate, in this process
    # More paths that need a key, added by whoever mounts an app beside the API (the web UI's file uploads).
    keyed_paths: set[str] = field(default_factory=set)


def policy_for(settings: Settings, auth: Authenticator) -> GuardPolicy:
    return GuardPolicy(allowed_hosts=frozenset(settings.effective_allowed_hosts),
                       max_json_bytes=settings.max_json_bytes, max_upload_bytes=settings.max_upload_bytes,
                       auth=auth, docs_require_key=settings.docs_require_key, limiter=RateLimiter())


class RequestGuard:
    """Pure ASGI middleware applying a GuardPolicy to every HTTP request (and the Host check to websockets)."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _first_headers(scope["headers"])
        if scope["type"] == "websocket":
            if self._host_allowed(headers):
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        key = presented_key(headers)
        known, caller = self.policy.auth.known(key)
        if not known:  # a database lookup: off the event loop
            caller = await in_db_thread(self.policy.auth.caller, key)
        refusal = self.refusal(scope, headers, caller)
        if refusal is not None:
            await _problem(scope, send, *refusal)
            return
        if (wait_s := self._rate_limited(scope)) > 0:
            limited = RateLimitedError("this key made more requests than its rate limit allows per minute; "
                                       "retry after the Retry-After seconds", wait_s)
            await _problem(scope, send, status_for(limited), limited.code, str(limited),
                           {"Retry-After": retry_after(wait_s)})
            return
        upload = scope["path"] in UPLOAD_PATHS
        limit = self.policy.max_upload_bytes if upload else self.policy.max_json_bytes
        too_large = ("upload_too_large" if upload else "payload_too_large", _too_large(limit))
        declared = headers.get("content-length", "")
        if not declared.isascii() or (declared and not declared.isdigit()):
            await _problem(scope, send, 400, "invalid_request", "the Content-Length header is not a number")
            return
        if declared and int(declared) > limit:
            await _problem(scope, send, 413, *too_large)
            return
        await self._capped(scope, receive, send, limit, too_large)

    def _rate_limited(self, scope: Scope) -> float:
        """Seconds until the caller's rate limit lets this request through; 0.0 when it may go now."""
        caller: Caller | None = scope.get("state", {}).get("caller")
        if caller is None or caller.rate_limit_per_min is None or not _needs_key(scope["path"], True):
            return 0.0
        return self.policy.limiter.wait_s(caller.tenant_id, caller.rate_limit_per_min)

    def _host_allowed(self, headers: dict[str, str]) -> bool:
        return "*" in self.policy.allowed_hosts or _hostname(headers.get("host", "")) in self.policy.allowed_hosts

    def refusal(self, scope: Scope, headers: dict[str, str], caller: Caller | None) -> tuple[int, str, str] | None:
        """(status, code, detail) when the request must not reach the app, else None. `caller` is what the
        presented key authenticates (None: no key, or not a valid one). An accepted request's caller is left
        in scope["state"]["caller"]: the routes' CallerDep reads it instead of checking the key again."""
        if not self._host_allowed(headers):
            return 400, "host_not_allowed", ("this server does not answer to that host name; add it to "
                                             "allowed_hosts in the config")
        path = scope["path"]
        if scope["method"] in UNSAFE_METHODS and caller is None and _cross_site(headers):
            return 403, "cross_site_refused", ("cross-site requests need an API key; open the web UI from this "
                                               "server's own address")
        if caller is None and (_needs_key(path, self.policy.docs_require_key) or path in self.policy.keyed_paths):
            if self.policy.auth.required():
                return 401, "unauthorized", KEY_HINT
            caller = Caller()  # no keys anywhere: a loopback server, one tenant
        scope.setdefault("state", {})["caller"] = caller
        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            return 422, "invalid_request", "the path or query contains a NUL character"
        return None

    async def _capped(self, scope: Scope, receive: Receive, send: Send, limit: int,
                      too_large: tuple[str, str]) -> None:
        """Run the app with a body reader that answers 413 (code, detail) the moment `limit` is passed.

        The app then sees the client as gone (http.disconnect) and whatever it answers is dropped: raising
        into the app instead would come back as FastAPI's generic 400 for any error while reading a body.
        """
        received, started, answered = 0, False, False

        async def counting_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        answered = True
                        await _problem(scope, send, 413, *too_large)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the app answering after the 413 went out: nobody is listening
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, tracking_send)


def _first_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers by lower-case name, the first of repeated ones winning, as Starlette reads them."""
    headers: dict[str, str] = {}
    for key, value in raw:
        headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _needs_key(path: str, docs_require_key: bool) -> bool:
    if path in PUBLIC_PATHS:
        return False
    if path in DOC_PATHS or path.startswith("/docs/"):
        return docs_require_key
    return path.startswith(KEYED_PREFIXES)


def _hostname(host_header: str) -> str:
    """The host name of a Host header without its port ("[::1]:8000" -> "::1")."""
    try:
        return (urlsplit(f"//{host_header}").hostname or "").lower()
    except ValueError:
        return ""


def _cross_site(headers: dict[str, str]) -> bool:
    """A browser says so with Sec-Fetch-Site, or with an Origin whose host is not the one it addressed."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")  # same-site is another port or subdomain: not this server
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser, or a same-origin GET-like request
    if origin == "null":
        return True
    try:
        return urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
    except ValueError:
        return True


def _too_large(limit: int) -> str:
    return f"the request body is larger than this route accepts ({limit:,} bytes)"


async def _problem(scope: Scope, send: Send, status: int, code: str, detail: str,
                   headers: dict[str, str] | None = None) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else headers
    response = problem_response(status, code, detail, scope["path"], headers)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
