"""Alerts: conditions an operator should hear about, checked by the workers on a timer (settings.alerts).

disk_low, gpu_memory_high, failure_rate and queue_stalled. Each kind is sent at most once per alerts.repeat_s
across all workers (the database remembers when it was last sent). Every alert leaves through `send`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from .db.models import utcnow
from .jobs import JobService
from .notifiers import send_alert
from .resources import GpuReading, disk_low, gpu_readings
from .settings import Settings

log = logging.getLogger("facecast.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    """One condition that holds now: `kind` is stable (rate limits are per kind), title and text are for people."""

    kind: str
    title: str
    text: str


def send(settings: Settings, title: str, text: str) -> None:
    """The one way out for alerts: a WARNING line in the log, and a message to settings.alert_notifiers."""
    log.warning("ALERT %s: %s", title, text)
    send_alert(settings, title, text)


def check_disk(settings: Settings) -> Alert | None:
    reason = disk_low(settings)
    if reason is None:
        return None
    return Alert("disk_low", "facecast: disk space low",
                 f"data directory {settings.data_dir}: {reason}; new jobs get 507 until space is freed")


def check_gpus(settings: Settings, readings: list[GpuReading]) -> Alert | None:
    limit = settings.alerts.gpu_memory_percent
    high = [r for r in readings if r.memory_percent > limit]
    if not high:
        return None
    listed = ", ".join(f"GPU {r.index} ({r.name}) {r.memory_percent:.0f}%" for r in high)
    return Alert("gpu_memory_high", "facecast: GPU memory high", f"{listed} of memory in use, over {limit:.0f}%")


def check_failures(settings: Settings, jobs: JobService, now: dt.datetime) -> Alert | None:
    window = settings.alerts.failure_window_s
    ended = jobs.ended_since(now - dt.timedelta(seconds=window))
    failed, finished = ended.get("failed", 0), ended.get("failed", 0) + ended.get("succeeded", 0)
    if finished < settings.alerts.failure_min_jobs or failed / finished <= settings.alerts.failure_rate:
        return None
    return Alert("failure_rate", "facecast: many videos failing",
                 f"{failed} of {finished} videos that ended in the last {window / 60:.0f} min failed "
                 f"(over {settings.alerts.failure_rate:.0%}); see error_code in GET /v1/videos?status=failed")


def check_queue(settings: Settings, jobs: JobService, now: dt.datetime) -> Alert | None:
    oldest = jobs.oldest_queued_at()
    if oldest is None or (now - oldest).total_seconds() <= settings.alerts.queued_max_s:
        return None
    waited_min = (now - oldest).total_seconds() / 60
    return Alert("queue_stalled", "facecast: jobs waiting long",
                 f"the oldest queued job has waited {waited_min:.0f} min (limit "
                 f"{settings.alerts.queued_max_s / 60:.0f} min); {len(jobs.live_workers())} worker(s) alive")


def evaluate(settings: Settings, jobs: JobService, now: dt.datetime | None = None,
             gpus: list[GpuReading] | None = None) -> list[Alert]:
    """Every condition that holds now (GPU readings are taken when not given)."""
    now = now or utcnow()
    found = [check_disk(settings), check_gpus(settings, gpu_readings() if gpus is None else gpus),
             check_failures(settings, jobs, now), check_queue(settings, jobs, now)]
    return [alert for alert in found if alert is not None]


def run_alerts(settings: Settings, jobs: JobService) -> list[Alert]:
    """Evaluate and send what is due; returns the alerts sent (a kind sent recently is held back)."""
    sent = []
    for alert in evaluate(settings, jobs):
        if jobs.claim_alert(alert.kind, settings.alerts.repeat_s):
            send(settings, alert.title, alert.text)
            sent.append(alert)
    return sent
