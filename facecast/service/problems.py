"""Errors as RFC 9457 application/problem+json: every FacecastError `code` maps to one problem type."""

from __future__ import annotations

import logging

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
    http_status = 404


class VoiceNotFoundError(UnknownVoiceError):
    """An unknown voice named in the URL path: the resource is missing (same stable code)."""

    http_status = 404


class IdempotencyConflictError(FacecastError):
    code = "idempotency_conflict"
    http_status = 409


class InvalidStateError(FacecastError):
    """The resource exists but is in a state that does not allow the request (e.g. download before success)."""

    code = "invalid_state"
    http_status = 409


class TemplateNotReadyError(FacecastError):
    code = "template_not_ready"
    http_status = 409


class UploadTooLargeError(FacecastError):
    code = "upload_too_large"
    http_status = 413


class UnsupportedMediaError(FacecastError):
    code = "unsupported_media"
    http_status = 415


class UrlRefusedError(FacecastError):
    """A URL input points somewhere the service may not fetch from (scheme, private address, size, time)."""

    code = "url_refused"
    http_status = 422


class FetchFailedError(FacecastError):
    code = "fetch_failed"
    http_status = 422


class UnauthorizedError(FacecastError):
    code = "unauthorized"
    http_status = 401


def problem_response(status: int, code: str, detail: str, instance: str | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + code, "title": code.replace("_", " ").capitalize(), "status": status,
            "detail": detail, "code": code, "instance": instance}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the API as problem+json, including validation and unknown-route errors."""

    @app.exception_handler(FacecastError)
    async def _facecast(request: Request, exc: FacecastError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
        return problem_response(exc.http_status, exc.code, str(exc), request.url.path, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return problem_response(422, "invalid_request", "; ".join(parts) or "invalid request", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return problem_response(exc.status_code, code, str(exc.detail), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(500, "internal_error", "unexpected server error; see logs/facecast.log",
                                request.url.path)
