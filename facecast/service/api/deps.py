"""Annotated dependencies the routes take: settings, services, the caller and the Idempotency-Key."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from ..jobs import JobService
from ..library import Library
from ..problems import UnauthorizedError
from ..settings import Settings
from ..storage import Storage


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling. One tenant for now; keys gate access, they do not partition data."""

    tenant_id: str = "default"


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _jobs(request: Request) -> JobService:
    return request.app.state.jobs


def _library(request: Request) -> Library:
    return request.app.state.library


def _storage(request: Request) -> Storage:
    return request.app.state.storage


def _caller(settings: Annotated[Settings, Depends(_settings)],
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
            x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Caller:
    if not settings.api_keys:
        return Caller()
    given = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ")
                          else None)
    if given and any(hmac.compare_digest(given.encode(), key.get_secret_value().encode())
                     for key in settings.api_keys):
        return Caller()
    raise UnauthorizedError("missing or wrong API key; send Authorization: Bearer <key> or X-API-Key: <key>")


def _idempotency_key(idempotency_key: Annotated[str | None, Header(
        max_length=255, description="Any unique string; repeating a create with the same key and body returns "
                                    "the first result instead of creating again")] = None) -> str | None:
    return idempotency_key


SettingsDep = Annotated[Settings, Depends(_settings)]
JobsDep = Annotated[JobService, Depends(_jobs)]
LibraryDep = Annotated[Library, Depends(_library)]
StorageDep = Annotated[Storage, Depends(_storage)]
CallerDep = Annotated[Caller, Depends(_caller)]
IdempotencyKeyDep = Annotated[str | None, Depends(_idempotency_key)]
