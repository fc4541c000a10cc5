"""Annotated dependencies the routes take: settings, services, the caller and the Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from ..deliveries import Deliveries
from ..jobs import JobService
from ..keys import Authenticator
from ..library import Library
from ..problems import InvalidRequestError, UnauthorizedError
from ..settings import Settings
from ..storage import Storage
from ..tenants import Caller
from .credentials import presented_key
from .guard import KEY_HINT
from .threads import in_db_thread


# Dependencies are `async def` (any database read goes to in_db_thread): FastAPI runs a plain `def` dependency in
# the thread pool, a thread hop per dependency per request that showed in the latency of every route under load.
async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _jobs(request: Request) -> JobService:
    return request.app.state.jobs


async def _deliveries(request: Request) -> Deliveries:
    return request.app.state.deliveries


async def _library(request: Request) -> Library:
    return request.app.state.library


async def _storage(request: Request) -> Storage:
    return request.app.state.storage


async def _caller(request: Request,
                  authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
                  x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Caller:
    """The caller the guard found for this request's key; checked here only when the app runs without the
    guard, so routes stay safe either way."""
    checked: Caller | None = getattr(request.state, "caller", None)
    if checked is not None:
        return checked
    given = presented_key({k: v for k, v in (("authorization", authorization), ("x-api-key", x_api_key)) if v})
    return await in_db_thread(_check_key, request.app.state.auth, given)


def _check_key(auth: Authenticator, given: str | None) -> Caller:
    """The caller `given` authenticates; may read the key table."""
    caller = auth.caller(given)
    if caller is not None:
        return caller
    if auth.required():
        raise UnauthorizedError(KEY_HINT)
    return Caller()


async def _idempotency_key(idempotency_key: Annotated[str | None, Header(
        max_length=255, description="Any unique string; repeating a create with the same key and body returns "
                                    "the first result instead of creating again")] = None) -> str | None:
    if idempotency_key is not None and idempotency_key.lower().startswith(RESERVED_KEY_PREFIXES):
        raise InvalidRequestError(f"Idempotency-Key may not start with {', '.join(RESERVED_KEY_PREFIXES)}: "
                                  "those keys name tasks of the HeyGem-compatible routes")
    return idempotency_key


# Idempotency keys the service stores for other route families (easy.KEY_PREFIX); clients may not plant them.
RESERVED_KEY_PREFIXES = ("heygem:",)
# next_cursor values look like 1712345678.123456_vid_...: checked here so no float or date overflow reaches them.
CURSOR_PATTERN = r"^\d{1,11}\.\d{6}_[A-Za-z0-9_]{1,64}$"
CursorQuery = Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                          description="next_cursor of the previous page")]


SettingsDep = Annotated[Settings, Depends(_settings)]
JobsDep = Annotated[JobService, Depends(_jobs)]
LibraryDep = Annotated[Library, Depends(_library)]
DeliveriesDep = Annotated[Deliveries, Depends(_deliveries)]
StorageDep = Annotated[Storage, Depends(_storage)]
CallerDep = Annotated[Caller, Depends(_caller)]
IdempotencyKeyDep = Annotated[str | None, Depends(_idempotency_key)]
