"""Liveness, readiness (database, queue, storage, free disk) and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ...resources import disk_low
from ...schemas import Health
from ..deps import JobsDep, SettingsDep, StorageDep

router = APIRouter(tags=["health"])
log = logging.getLogger("facecast.service")
FAILED = "failed"  # each readiness check answers ok or failed; the reason is logged


@router.get("/healthz", operation_id="get_health", response_model=Health)
def healthz() -> Health:
    """The API process is up."""
    return Health(status="ok", checks={"api": "ok"})


@router.get("/readyz", operation_id="get_readiness", response_model=Health,
            responses={503: {"model": Health, "description": "A dependency is not ready"}})
def readyz(jobs: JobsDep, storage: StorageDep, settings: SettingsDep) -> Response:
    """Ready to accept work: database, queue and storage answer and the data directory has free space."""
    checks: dict[str, str] = {}
    for name, probe in {**jobs.probes(), "storage": storage.check}.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # the reason names hosts and paths: it goes to the log, not to the caller
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = FAILED
    low = disk_low(settings)
    if low:
        log.warning("readiness check disk failed: %s", low)
    checks["disk"] = f"{FAILED}: {low}" if low else "ok"  # a count of megabytes names no host or path
    checks["workers"] = str(len(jobs.live_workers()))
    ok = all(v == "ok" for k, v in checks.items() if k != "workers")
    body = Health(status="ok" if ok else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", operation_id="get_metrics", include_in_schema=True,
            responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text exposition: HTTP requests, jobs by status, queue depth, workers, stage durations,
    real-time factor, free disk and (with a GPU and nvidia-ml-py) GPU memory and utilisation."""
    data, content_type = request.app.state.metrics.render()
    return Response(data, media_type=content_type)
