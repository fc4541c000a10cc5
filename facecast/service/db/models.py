"""Tables. Rows are written by service/jobs.py (jobs, batches, idempotency), service/library.py (templates, audio)
and service/deliveries.py (deliveries and their attempts) and service/keys.py (API keys)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..job_options import JobOptions


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC (SQLite has no time zones) and always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class JobOptionsJSON(TypeDecorator[JobOptions]):
    """JobOptions stored as JSON: validated on the way in and on the way out, older shapes upgraded."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: JobOptions | dict[str, Any] | None, dialect: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        return (value if isinstance(value, JobOptions) else JobOptions.load(value)).model_dump(mode="json")

    def process_result_value(self, value: dict[str, Any] | None, dialect: Any) -> JobOptions:
        return JobOptions.load(value or {})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Template(Base):
    """A template video or photo in the library and the state of its preparation (face tracking)."""

    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # preparing | ready | failed
    source_key: Mapped[str | None] = mapped_column(String(200))  # storage key once the file is here
    source_url: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    prepared_on: Mapped[str | None] = mapped_column(String(200))  # hostname whose cache holds the tracking
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Audio(Base):
    """An uploaded audio file, decoded and checked once at upload."""

    __tablename__ = "audio"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    filename: Mapped[str | None] = mapped_column(String(255))  # as sent, shown only; never used as a path
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # retention deleted the file


TASK_CALLBACK = "heygem"  # Batch.callback_format of a HeyGem-gateway task: its callback is the task's body


class Batch(Base):
    """One audio rendered onto several templates; its videos are jobs with batch_id set."""

    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    audio_id: Mapped[str | None] = mapped_column(String(40))
    audio_url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)  # spoken by `voice` instead of audio
    voice: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_format: Mapped[str | None] = mapped_column(String(16))  # None: facecast events, or TASK_CALLBACK
    notify: Mapped[list[str] | None] = mapped_column(JSON)  # notifier names told when the batch ends
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Job(Base):
    """A unit of queued work: a video (kind "video") or a template preparation (kind "prepare")."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_kind_created", "owner", "kind", "created_at", "id"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
        Index("ix_jobs_status_finished", "status", "finished_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # queued | processing | succeeded | failed | canceled
    template_id: Mapped[str | None] = mapped_column(String(40), index=True)
    audio_id: Mapped[str | None] = mapped_column(String(40))
    audio_url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)  # spoken by `voice` instead of audio; options hold rate etc.
    voice: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True)
    options: Mapped[JobOptions] = mapped_column(JobOptionsJSON, default=JobOptions)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    callback_url: Mapped[str | None] = mapped_column(Text)
    notify: Mapped[list[str] | None] = mapped_column(JSON)  # notifier names told when the video ends
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    queue: Mapped[str | None] = mapped_column(String(120))  # the queue its task was last sent to
    expired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # retention deleted its output files


class IdempotencyKey(Base):
    """Remembers which resource a caller's Idempotency-Key created, and for which request body."""

    __tablename__ = "idempotency_keys"
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Worker(Base):
    """A running worker process, for /readyz, /metrics and cache-affinity routing."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(120))  # the host queue this worker also consumes
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Delivery(Base):
    """One event for one target: a callback URL (kind "webhook") or a configured notifier (kind = its name).

    Any live worker sends it when next_attempt_at is due, claiming it with a lease so that no attempt is sent twice.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subject_id", "event", "kind", name="uq_deliveries_subject_event_kind"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # sent as webhook-id, the same on every attempt
    owner: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(40), index=True)  # the video or batch the event is about
    kind: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))  # video.succeeded, batch.failed, task.ended, ...
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # JSON, sent as is (notifier signatures are added when sent)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    round_attempts: Mapped[int] = mapped_column(Integer, default=0)  # since creation or the last redeliver
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeliveryAttempt(Base):
    """One try at a delivery: when, what the target answered, or why nothing was answered."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class ApiKey(Base):
    """A key kept in the database (`facecast keys create`): its id is the tenant that owns what it creates."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | user
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the key itself is never stored
    key_prefix: Mapped[str] = mapped_column(String(16))  # its first characters, to recognise it in lists
    webhook_secret: Mapped[str] = mapped_column(String(100))  # kept readable: the server signs with it
    rate_limit_per_min: Mapped[int | None] = mapped_column(Integer)  # None: settings.key_limits
    max_active_jobs: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class HistogramBucket(Base):
    """Cumulative histograms workers add to and /metrics reads (stage durations, real-time factor).

    Kept in the database because workers run in other processes, often on other machines, than the API that
    serves /metrics. One row per (metric, label, bucket): bucket is an upper bound ("0.5", "+Inf" counts every
    observation) or "sum"; value only grows.
    """

    __tablename__ = "histogram_buckets"
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class AlertSent(Base):
    """When each alert kind was last sent, so several workers together send it at most once per repeat_s."""

    __tablename__ = "alerts_sent"
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
