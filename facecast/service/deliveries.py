"""Deliveries: callbacks and chat notifications as rows, the only code that reads or writes them.

When a video or batch ends, one row per (event, target) is written in the same transaction that ends it, so an
event is never lost to a crash and never recorded twice (a unique key drops repeats). Every live worker runs a
sender loop: it claims due rows with a compare-and-set UPDATE that takes a lease (two workers never send the same
attempt, on SQLite or PostgreSQL), POSTs, and records the attempt; a failure is retried after the next of
settings.delivery.retry_delays_s, and a row whose attempts are used up is failed until someone redelivers it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from .db.models import TASK_CALLBACK, Batch, Delivery, DeliveryAttempt, Job, Template, utcnow
from .db.session import Database
from .keys import KeyStore
from .pages import new_id
from .notifiers import MAX_LINES, Message, render, send_now
from .problems import InvalidStateError
from .schemas import (
    BatchPublic, DeliveryAttemptPublic, DeliveryPublic, VideoPublic, batch_public, task_public, video_public,
)
from .settings import Settings
from .statuses import TERMINAL
from .tenants import Caller, owned_or_raise
from .webhooks import Answer, host_of, post, signing_secret, webhook_headers

log = logging.getLogger("facecast.deliveries")
WEBHOOK = "webhook"
GATEWAY_EVENT = "task.ended"
LOST_ATTEMPT = "the worker sending this attempt stopped before the target answered"
CLAIM_BATCH = 20  # rows one sender round claims at most


class Deliveries:
    """Writes delivery rows when things end, lists and redelivers them for callers, and sends them for workers."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.keys = KeyStore(db)  # each database key signs its tenant's callbacks with its own secret

    # --- events (inside the transaction that ends a job) -------------------------------------------------------

    def record_end(self, session: Session, job_id: str) -> None:
        """The rows of a job's end, and of its batch's end when it was the batch's last: JobService's on_end."""
        job = session.get(Job, job_id, populate_existing=True)
        if job is None or job.kind != "video" or job.status not in TERMINAL:
            return
        rows = self._video_rows(session, job)
        if job.batch_id:
            rows += self._batch_rows(session, job.batch_id)
        if rows:
            session.execute(_insert_new(session, rows))

    def _video_rows(self, session: Session, job: Job) -> list[dict[str, Any]]:
        view = video_public(job, self.settings.base_url)
        event = f"video.{job.status}"
        rows = []
        if job.callback_url:
            rows.append(self._row(job.owner, job.id, WEBHOOK, event, job.callback_url, _envelope(event, view)))
        if job.notify:
            template = session.get(Template, job.template_id) if job.template_id else None
            message = video_message(view, template.name if template else None)
            rows += self._notifier_rows(job.owner, job.id, event, job.notify, message)
        return rows

    def _batch_rows(self, session: Session, batch_id: str) -> list[dict[str, Any]]:
        """The batch's end rows if every video has ended. The batch row is locked (PostgreSQL) so that of two
        videos ending at once the later sees the other's end; both seeing it is harmless (repeats are dropped)."""
        batch = session.scalars(select(Batch).where(Batch.id == batch_id).with_for_update()).one_or_none()
        if batch is None or not (batch.callback_url or batch.notify):
            return []
        jobs = list(session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.created_at, Job.id)
                                    .execution_options(populate_existing=True)))
        if any(job.status not in TERMINAL for job in jobs):
            return []
        view = batch_public(batch, jobs, self.settings.base_url)
        event = f"batch.{view.status}"
        rows = []
        if batch.callback_url and batch.callback_format == TASK_CALLBACK:
            task = task_public((batch.metadata_ or {}).get("task_id", ""), view).model_dump(mode="json")
            rows.append(self._row(batch.owner, batch.id, WEBHOOK, GATEWAY_EVENT, batch.callback_url, task))
        elif batch.callback_url:
            rows.append(self._row(batch.owner, batch.id, WEBHOOK, event, batch.callback_url, _envelope(event, view)))
        if batch.notify:
            names = {t.id: t.name for t in session.scalars(select(Template).where(
                Template.id.in_({job.template_id for job in jobs if job.template_id})))}
            rows += self._notifier_rows(batch.owner, batch.id, event, batch.notify, batch_message(view, names))
        return rows

    def _notifier_rows(self, owner: str, subject_id: str, event: str, names: list[str],
                       message: Message) -> list[dict[str, Any]]:
        rows = []
        for name in names:
            target = self.settings.notifiers.get(name)
            if target is None:  # removed from the settings since the job was created
                log.warning("%s %s: notifier %s is not configured; not told", subject_id, event, name)
                continue
            rows.append(self._row(owner, subject_id, name, event, target.url, render(target.kind, message)))
        return rows

    @staticmethod
    def _row(owner: str, subject_id: str, kind: str, event: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        return {"id": new_id("dlv"), "owner": owner, "subject_id": subject_id, "kind": kind, "event": event,
                "url": url, "body": json.dumps(body, default=str), "status": "pending", "attempts": 0,
                "round_attempts": 0, "next_attempt_at": now, "created_at": now}

    # --- callers ------------------------------------------------------------------------------------------------

    def list_for(self, caller: Caller, subject: str, subject_id: str) -> list[DeliveryPublic]:
        """The deliveries of a video or batch `caller` may see (`subject`), each with its attempts, oldest first."""
        with self.db.session() as session:
            _subject_or_raise(session, caller, subject, subject_id)
            rows = list(session.scalars(select(Delivery).where(Delivery.subject_id == subject_id)
                                        .order_by(Delivery.created_at, Delivery.id)))
            attempts = list(session.scalars(select(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id.in_([row.id for row in rows])).order_by(DeliveryAttempt.id)))
        return [_delivery_public(row, [a for a in attempts if a.delivery_id == row.id]) for row in rows]

    def redeliver(self, caller: Caller, subject: str, subject_id: str) -> list[DeliveryPublic]:
        """Send every delivery of the video or batch again, now, with a fresh retry schedule."""
        with self.db.session() as session:
            _subject_or_raise(session, caller, subject, subject_id)
            result = session.execute(update(Delivery).where(Delivery.subject_id == subject_id).values(
                status="pending", next_attempt_at=utcnow(), round_attempts=0)
                .execution_options(synchronize_session=False))
        if not result.rowcount:
            raise InvalidStateError(f"{subject} {subject_id} has no deliveries: it has not ended yet, or it was "
                                    "created without callback_url and notify")
        log.info("%s %s: %d delivery(ies) queued again by the caller", subject, subject_id, result.rowcount)
        return self.list_for(caller, subject, subject_id)

    # --- workers ------------------------------------------------------------------------------------------------

    def send_due(self, worker_id: str, stop: threading.Event | None = None) -> int:
        """Claim and send the deliveries that are due, one at a time until `stop` is set; returns how many this
        call attempted."""
        now = utcnow()
        with self.db.session() as session:
            due = list(session.execute(select(Delivery.id, Delivery.attempts).where(
                Delivery.status == "pending", Delivery.next_attempt_at <= now,
                or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now))
                .order_by(Delivery.next_attempt_at).limit(CLAIM_BATCH)))
        sent = 0
        for delivery_id, attempts in due:
            if stop is not None and stop.is_set():
                break  # the rest stay due for the next worker: nothing was claimed
            row = self._claim(delivery_id, attempts, worker_id)
            if row is None:
                continue  # another worker took it first
            started, clock = utcnow(), time.monotonic()
            status_code, error = self._send(row)
            self._record(row, worker_id, started, status_code, error, int((time.monotonic() - clock) * 1000))
            sent += 1
        return sent

    def _claim(self, delivery_id: str, attempts: int, worker_id: str) -> Delivery | None:
        """Take one attempt of a due row under a lease; an expired lease means its sender died mid-attempt."""
        now = utcnow()
        lease = dt.timedelta(seconds=2 * self.settings.delivery.timeout_s + 5)
        with self.db.session() as session:
            previous = session.get(Delivery, delivery_id)
            won = session.execute(update(Delivery).where(
                Delivery.id == delivery_id, Delivery.status == "pending", Delivery.attempts == attempts,
                or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now)).values(
                lease_owner=worker_id, lease_expires_at=now + lease, attempts=attempts + 1,
                round_attempts=Delivery.round_attempts + 1).execution_options(synchronize_session=False)).rowcount
            if won != 1:
                return None
            if previous is not None and previous.lease_owner is not None:
                session.add(DeliveryAttempt(delivery_id=delivery_id, number=attempts, at=now, error=LOST_ATTEMPT))
            return session.get(Delivery, delivery_id, populate_existing=True)

    def _send(self, row: Delivery) -> tuple[int | None, str | None]:
        """(HTTP status, why it failed or None) of one POST of the row."""
        body = row.body.encode()
        if row.kind == WEBHOOK:
            headers = webhook_headers(signing_secret(self.settings, self.keys.webhook_secret(row.owner)), row.id,
                                      body)
            answer = post(self.settings, row.url, body, headers)
            ok = answer.status_code is not None and 200 <= answer.status_code < 300
            return answer.status_code, None if ok else _failure(answer)
        return send_now(self.settings, row.kind, row.body)

    def _record(self, row: Delivery, worker_id: str, started: dt.datetime, status_code: int | None,
                error: str | None, duration_ms: int) -> None:
        """Write the attempt and the row's next state: delivered, pending until the next delay, or failed."""
        delays = self.settings.delivery.retry_delays_s
        values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "next_attempt_at": None}
        if error is None:
            values["status"] = "delivered"
        elif row.round_attempts <= len(delays):
            values.update(status="pending", next_attempt_at=utcnow() + dt.timedelta(
                seconds=delays[row.round_attempts - 1]))
        else:
            values["status"] = "failed"
        with self.db.session() as session:
            won = session.execute(update(Delivery).where(
                Delivery.id == row.id, Delivery.lease_owner == worker_id, Delivery.attempts == row.attempts)
                .values(**values).execution_options(synchronize_session=False)).rowcount
            if won == 1:
                session.add(DeliveryAttempt(delivery_id=row.id, number=row.attempts, at=started,
                                            status_code=status_code, error=error, duration_ms=duration_ms))
        outcome = "delivered" if error is None else f"{values['status']} ({error[:120]})"
        log.info("delivery %s %s of %s to %s, attempt %d: %s", row.id, row.event, row.subject_id,
                 row.kind if row.kind != WEBHOOK else host_of(row.url), row.attempts, outcome)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a (subject, event, target) already recorded is left as it is."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(Delivery).values(rows).on_conflict_do_nothing()


def _subject_or_raise(session: Session, caller: Caller, subject: str, subject_id: str) -> None:
    if subject == "video":
        owned_or_raise(session, Job, subject_id, caller, "video", kind="video")
    else:
        owned_or_raise(session, Batch, subject_id, caller, "batch")


def _envelope(event: str, view: VideoPublic | BatchPublic) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": event, "timestamp": utcnow().isoformat(), "data": view.model_dump(mode="json")}


def _failure(answer: Answer) -> str:
    if answer.status_code is None:
        return answer.error or "no answer"
    return f"HTTP {answer.status_code}: {answer.text[:200]}"


def _delivery_public(row: Delivery, attempts: list[DeliveryAttempt]) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id, kind=row.kind, event=row.event, url=row.url if row.kind == WEBHOOK else None, status=row.status,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None, created_at=row.created_at,
        attempts=[DeliveryAttemptPublic(at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms)
                  for a in attempts])


def video_message(view: VideoPublic, template_name: str | None) -> Message:
    """What a notifier says when a video ends."""
    fields = [("Template", template_name or view.template_id or "?")]
    if view.duration_s is not None:
        fields.append(("Duration", f"{view.duration_s:.1f} s"))
    if view.error_code:
        fields.append(("Error", f"{view.error_code}: {view.error_message or ''}"[:300]))
    links = [("Download the video", view.video_url)] if view.video_url else []
    return Message(f"facecast: video {view.id} {view.status}", fields, links)


def batch_message(view: BatchPublic, template_names: dict[str, str]) -> Message:
    """What a notifier says when a batch ends: one line per video (the first MAX_LINES)."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(view.counts.items()))
    lines = []
    for video in view.videos[:MAX_LINES]:
        name = template_names.get(video.template_id or "", video.template_id or "?")
        if video.video_url:
            took = f", {video.duration_s:.1f} s" if video.duration_s is not None else ""
            lines.append(f"- {name}: [{video.id}]({video.video_url}){took}")
        else:
            lines.append(f"- {name}: {video.status} ({video.error_code or ''}: {video.error_message or ''})"[:300])
    if len(view.videos) > MAX_LINES:
        lines.append(f"- ... and {len(view.videos) - MAX_LINES} more")
    return Message(f"facecast: batch {view.id} {view.status}", [("Videos", counts)], lines=lines)
