"""Prometheus metrics for /metrics: this API process's HTTP requests, and, read at scrape time, jobs by status,
queue depth, live workers, stage durations and real-time factor (recorded by workers in the database), free disk
of the data directory and GPU memory and utilisation (service/resources.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from .job_upkeep import INF, SUM, bucket_name
from .jobs import JobService
from .resources import free_disk_bytes, gpu_readings
from .settings import Settings


@dataclass(frozen=True, slots=True)
class HistogramSpec:
    """A histogram workers add to through JobService.observe and /metrics shows."""

    name: str
    help: str
    label: str  # the label's name; "" for a histogram without one
    bounds: tuple[float, ...]


STAGE_SECONDS = HistogramSpec("facecast_stage_seconds", "Seconds succeeded jobs spent in each stage", "stage",
                              (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800))
REALTIME_FACTOR = HistogramSpec("facecast_realtime_factor", "Render seconds per second of output video", "",
                                (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20))
WORKER_HISTOGRAMS = (STAGE_SECONDS, REALTIME_FACTOR)


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
        self.registry.register(_ResourceCollector(jobs.settings))

    def install(self, app: FastAPI) -> None:
        """Count and time every request (a plain ASGI middleware: no extra task per request)."""
        app.add_middleware(_Measured, metrics=self)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Measured:
    """The app's middleware stack, timed: route template, method and status of each HTTP request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)


class _JobCollector:
    """Job counts, queue depth, live workers and the workers' histograms, read from the database at scrape time."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("facecast_jobs", "Jobs by kind and status", labels=["kind", "status"])
        for kind, status, count in self.jobs.counts_by_kind_and_status():
            family.add_metric([kind, status], count)
        yield family
        depth = GaugeMetricFamily("facecast_queue_depth", "Tasks waiting in each queue", labels=["queue"])
        for queue, pending in self.jobs.queue_depths().items():
            depth.add_metric([queue], pending)
        yield depth
        workers = GaugeMetricFamily("facecast_workers", "Workers with a recent heartbeat")
        workers.add_metric([], len(self.jobs.live_workers()))
        yield workers
        for spec in WORKER_HISTOGRAMS:
            yield _histogram(spec, self.jobs.histograms(spec.name))


def _histogram(spec: HistogramSpec, stored: dict[str, dict[str, float]]) -> Any:
    """A Prometheus histogram from per-bucket counts: cumulative buckets, +Inf, and the sum."""
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(spec.name, spec.help, labels=[spec.label] if spec.label else None)
    for label, buckets in sorted(stored.items()):
        cumulative, rows = 0.0, []
        for bound in spec.bounds:
            cumulative += buckets.get(bucket_name(bound), 0.0)
            rows.append((bucket_name(bound), cumulative))
        rows.append((INF, buckets.get(INF, 0.0)))
        family.add_metric([label] if spec.label else [], rows, buckets.get(SUM, 0.0))
    return family


class _ResourceCollector:
    """Free disk of the data directory; GPU memory and utilisation where NVML sees a GPU (else omitted)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        disk = GaugeMetricFamily("facecast_disk_free_bytes", "Free bytes on the data directory's filesystem")
        disk.add_metric([], free_disk_bytes(self.settings.data_dir))
        yield disk
        readings = gpu_readings()
        if not readings:
            return
        used = GaugeMetricFamily("facecast_gpu_memory_used_bytes", "GPU memory in use", labels=["gpu", "name"])
        total = GaugeMetricFamily("facecast_gpu_memory_total_bytes", "GPU memory", labels=["gpu", "name"])
        load = GaugeMetricFamily("facecast_gpu_utilization_percent", "GPU busy share over the last sample period",
                                 labels=["gpu", "name"])
        for r in readings:
            used.add_metric([str(r.index), r.name], r.memory_used_bytes)
            total.add_metric([str(r.index), r.name], r.memory_total_bytes)
            load.add_metric([str(r.index), r.name], r.utilization_percent)
        yield from (used, total, load)
