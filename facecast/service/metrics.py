"""Prometheus metrics for /metrics: HTTP requests of this API process and job counts from the database."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response

from .jobs import JobService


class Metrics:
    """A registry per app (no module globals), so several apps in one process do not collide."""

    def __init__(self, jobs: JobService) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("facecast_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("facecast_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                                 registry=self.registry)
        self.registry.register(_JobCollector(jobs))

    def install(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            start = time.perf_counter()
            response = await call_next(request)
            route = getattr(request.scope.get("route"), "path", "unmatched")
            self.requests.labels(request.method, route, str(response.status_code)).inc()
            self.latency.labels(request.method, route).observe(time.perf_counter() - start)
            return response

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _JobCollector:
    """Job counts by kind and status, and live workers, read at scrape time."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("facecast_jobs", "Jobs by kind and status", labels=["kind", "status"])
        for kind, status, count in self.jobs.counts_by_kind_and_status():
            family.add_metric([kind, status], count)
        yield family
        workers = GaugeMetricFamily("facecast_workers", "Workers with a recent heartbeat")
        workers.add_metric([], len(self.jobs.live_workers()))
        yield workers
