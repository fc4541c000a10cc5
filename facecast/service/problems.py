"""Errors as RFC 9457 application/problem+json: every FacecastError `code` maps to one problem type."""

from __future__ import annotations

import errno
import math
import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facecast.engine.errors import FacecastError
from facecast.voice.errors import UnknownVoiceError

log = logging.getLogger("facecast.service")
PROBLEM_TYPE = "https://facecast.dev/problems/"  # + code; documented in docs/api.md
PROBLEM_JSON = "application/problem+json"


class NotFoundError(FacecastError):
    code = "not_found"


class VoiceNotFoundError(UnknownVoiceError):
    """An unknown voice named in the URL path: the resource is missing (same stable code, answered 404)."""


class IdempotencyConflictError(FacecastError):
    code = "idempotency_conflict"


class InvalidStateError(FacecastError):
    """The resource exists but is in a state that does not allow the request (e.g. download before success)."""

    code = "invalid_state"


class TemplateNotReadyError(FacecastError):
    code = "template_not_ready"


class UploadTooLargeError(FacecastError):
    code = "upload_too_large"


class UnsupportedMediaError(FacecastError):
    code = "unsupported_media"


class UrlRefusedError(FacecastError):
    """A URL input points somewhere the service may not fetch from (scheme, private address, size, time)."""

    code = "url_refused"


class FetchFailedError(FacecastError):
    code = "fetch_failed"


class UnauthorizedError(FacecastError):
    code = "unauthorized"


class TooManyRequestsError(FacecastError):
    """A per-key limit was reached; the answer carries Retry-After (seconds) saying when to try again."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimitedError(TooManyRequestsError):
    code = "rate_limited"


class QuotaExceededError(TooManyRequestsError):
    """The key has its max_active_jobs videos queued or running: new ones wait until some end."""

    code = "quota_exceeded"

    def __init__(self, message: str, retry_after_s: float = 10.0) -> None:
        super().__init__(message, retry_after_s)


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class InsufficientStorageError(FacecastError):
    """The data directory (or the database on it) is full: the request may succeed once space is freed."""

    code = "insufficient_storage"


class ExpiredError(FacecastError):
    """The resource existed but its files were deleted by the retention policy (settings.retention)."""

    code = "expired"


class LowDiskSpaceError(FacecastError):
    """Free space in the data directory is below min_free_disk_mb: new work is refused before the disk fills."""

    code = "low_disk_space"


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, is the filesystem saying it is full."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
            return True
        if getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:  # SQLite's own "disk is full"
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class UnknownNotifierError(FacecastError):
    """A create names a chat notifier the server's settings do not configure."""

    code = "unknown_notifier"


class InvalidRequestError(FacecastError):
    """A request field the schema cannot express a rule for (a reserved key, a bad file name, ...)."""

    code = "invalid_request"


# The HTTP status of every error code, engine, voice and service alike: the only place codes meet HTTP.
# 422 is a field of the request that cannot be used (it names nothing, or the file it names will not do).
STATUS_BY_CODE: dict[str, int] = {
    "facecast_error": 400, "host_not_allowed": 400,
    "unauthorized": 401,
    "cross_site_refused": 403,
    "not_found": 404, "input_not_found": 404,
    "canceled": 409, "idempotency_conflict": 409, "invalid_state": 409, "template_not_ready": 409,
    "expired": 410,
    "audio_too_long": 413, "upload_too_large": 413, "media_too_large": 413, "payload_too_large": 413,
    "unsupported_media": 415,
    "too_many_requests": 429, "rate_limited": 429, "quota_exceeded": 429,
    "invalid_request": 422, "invalid_option": 422, "unreadable_input": 422, "empty_audio": 422, "no_face": 422,
    "face_too_small": 422, "backend_unavailable": 422, "invalid_weights": 422, "low_sync_quality": 422, "url_refused": 422,
    "fetch_failed": 422, "empty_text": 422, "text_too_long": 422, "unknown_voice": 422, "unsupported_language": 422,
    "voice_config": 422, "unknown_notifier": 422,
    "tts_failed": 502,
    "tts_unreachable": 503,
    "internal_error": 500,
    "insufficient_storage": 507, "disk_full": 507, "low_disk_space": 507,
}
DEFAULT_STATUS = 400  # a code missing above; tests/service/test_problems.py keeps every error's code listed


def status_for(error: FacecastError) -> int:
    """The HTTP status `error` answers with."""
    if isinstance(error, VoiceNotFoundError):
        return 404  # the voice is the resource the URL path names, not a field of a request body
    return STATUS_BY_CODE.get(error.code, DEFAULT_STATUS)


def title_for(code: str) -> str:
    """The problem's short summary: the code in words ("not_found" -> "Not found")."""
    return code.replace("_", " ").capitalize()


def problem_response(status: int, code: str, detail: str, instance: str | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + code, "title": title_for(code), "status": status,
            "detail": detail, "code": code, "instance": instance}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the API as problem+json, including validation and unknown-route errors."""

    @app.exception_handler(FacecastError)
    async def _facecast(request: Request, exc: FacecastError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
        if isinstance(exc, TooManyRequestsError):
            headers = {"Retry-After": retry_after(exc.retry_after_s)}
        return problem_response(status_for(exc), exc.code, str(exc), request.url.path, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        code = "invalid_request"
        return problem_response(STATUS_BY_CODE[code], code, "; ".join(parts) or "invalid request", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return problem_response(exc.status_code, code, str(exc.detail), request.url.path)

    @app.exception_handler(OSError)  # handled here, not below: Starlette re-raises what reaches Exception
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        if not is_disk_full(exc):
            return _internal_error(request)
        # One line, no traceback: a full disk fails every request until space is freed.
        log.error("%s %s: storage full (%s)", request.method, request.url.path, exc)
        code = InsufficientStorageError.code
        return problem_response(STATUS_BY_CODE[code], code, "the server's storage is full; retry later",
                                request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request)


def _internal_error(request: Request) -> JSONResponse:
    """The answer to an error nobody expected; its traceback goes to the log (call from an except block)."""
    log.exception("unhandled error on %s", request.url.path)
    code = "internal_error"
    return problem_response(STATUS_BY_CODE[code], code, "unexpected server error; see logs/facecast.log",
                            request.url.path)
