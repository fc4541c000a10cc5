"""Retention: outputs and uploaded audio older than settings.retention allows are deleted, their rows marked.

Run by every worker on a timer (service/worker.py); marking is compare-and-set, so several workers never expire
the same file twice. Templates are a library the caller manages and are never expired. An expired video keeps
its row: its JSON says expired_at, and its downloads answer 410 expired.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from .db.models import utcnow
from .jobs import JobService
from .library import Library
from .settings import RetentionSettings

log = logging.getLogger("facecast.retention")


@dataclass(frozen=True, slots=True)
class RetentionPass:
    """What one pass expired."""

    outputs: list[str]
    inputs: list[str]


def cutoff(keep_h: float | None, now: dt.datetime) -> dt.datetime | None:
    """The time before which files are expired; None when they are kept forever (None or 0)."""
    return now - dt.timedelta(hours=keep_h) if keep_h else None


def expire_once(jobs: JobService, library: Library, retention: RetentionSettings) -> RetentionPass:
    """Expire what is due now: video outputs ended more than outputs_h ago, audio uploaded more than inputs_h ago."""
    now = utcnow()
    outputs_before, inputs_before = cutoff(retention.outputs_h, now), cutoff(retention.inputs_h, now)
    outputs = jobs.expire_outputs(outputs_before) if outputs_before else []
    inputs = library.expire_audio(inputs_before) if inputs_before else []
    if outputs or inputs:
        log.info("retention expired %d video(s) and %d audio upload(s)", len(outputs), len(inputs))
    return RetentionPass(outputs, inputs)
