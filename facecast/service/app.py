"""create_app(settings): the HTTP API. Workers run elsewhere (service/worker.py); this process only enqueues.

The web UI is mounted beside the API by whoever starts the server (facecast/serve.py), never from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from facecast import __version__

from .api.guard import RequestGuard, policy_for
from .api.routes import audio, batches, easy, gateway, health, templates, tools, videos, voices
from .db.session import Database
from .deliveries import Deliveries
from .jobs import JobService
from .keys import Authenticator, KeyStore
from .library import Library
from .logs import RequestIdMiddleware, configure_logging
from .metrics import Metrics
from .problems import install_problem_handlers
from .queue import Queues
from .settings import Settings
from .storage import make_storage

DESCRIPTION = ("Lip-synced talking videos from a template (video or photo) and speech. Every create is "
               "asynchronous: 202 with a job, then poll, long-poll with ?wait=N or receive a webhook.")


def create_app(settings: Settings) -> FastAPI:
    """Build the API around `settings`: opens the database (migrating it), the queue and the storage."""
    configure_logging(settings)
    db = Database(settings.effective_database_url)
    db.migrate()
    storage = make_storage(settings)
    deliveries = Deliveries(settings, db)
    jobs = JobService(settings, db, Queues(settings), storage, on_end=deliveries.record_end)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()

    app = FastAPI(title="facecast", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings, app.state.storage, app.state.jobs = settings, storage, jobs
    app.state.deliveries = deliveries
    app.state.keys = KeyStore(db)
    app.state.auth = Authenticator(settings, app.state.keys)
    app.state.library = Library(jobs)
    app.state.metrics = Metrics(jobs)
    app.state.metrics.install(app)
    install_problem_handlers(app)
    app.state.guard = policy_for(settings, app.state.auth)
    app.add_middleware(RequestGuard, policy=app.state.guard)  # wraps the web UI mounted later
    app.add_middleware(RequestIdMiddleware)  # outermost: even a refused request's lines carry its id
    for module in (templates, audio, videos, batches, voices, health, tools, easy, gateway):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """OpenAPI with a servers entry (workflow tools need one) and problem+json documented on errors."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         servers=[{"url": settings.base_url, "description": "this facecast server"}])
    schema["components"]["schemas"]["Problem"] = _problem_schema()
    for path in schema["paths"].values():
        for operation in path.values():
            operation.setdefault("responses", {})["default"] = {
                "description": "Error (RFC 9457 problem details)",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    app.openapi_schema = schema
    return schema


def _problem_schema() -> dict[str, Any]:
    from .schemas import Problem

    return Problem.model_json_schema()
