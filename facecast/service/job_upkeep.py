"""JobService's upkeep and reporting: retention of outputs, histograms shared by workers, alert readings.

A base class of JobService (service/jobs.py), kept in its own file for size: these methods are JobService's,
and like the rest of it they are the only code that reads and writes job rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db.models import AlertSent, HistogramBucket, Job, Worker, utcnow
from .queue import SHARED_QUEUE
from .statuses import TERMINAL

if TYPE_CHECKING:
    from .db.session import Database
    from .queue import Queues

EXPIRE_BATCH = 200  # rows expired per round, so one round stays short however much has piled up
INF, SUM = "+Inf", "sum"


def bucket_name(bound: float) -> str:
    """The bucket column of an upper bound, as Prometheus writes it in `le`."""
    return INF if math.isinf(bound) else repr(float(bound))


class JobUpkeep:
    """Retention, histograms and the readings alerts and /metrics need; mixed into JobService."""

    db: Database
    queues: Queues

    def delete_outputs(self, job_id: str) -> None:  # JobService's, which knows the output keys
        raise NotImplementedError

    def live_workers(self) -> Sequence[Worker]:  # JobService's
        raise NotImplementedError

    # --- retention ------------------------------------------------------------------------------------------

    def expire_outputs(self, ended_before: dt.datetime) -> list[str]:
        """Delete the files of videos that ended before `ended_before` and mark them expired; returns their ids.
        The mark is compare-and-set, so with several workers each job is expired (and its files deleted) once."""
        query = (select(Job.id).where(Job.kind == "video", Job.status.in_(TERMINAL), Job.expired_at.is_(None),
                                      Job.finished_at < ended_before).order_by(Job.finished_at).limit(EXPIRE_BATCH))
        expired = []
        with self.db.session() as session:
            for job_id in list(session.scalars(query)):
                result = session.execute(update(Job).where(Job.id == job_id, Job.expired_at.is_(None))
                                         .values(expired_at=utcnow()).execution_options(synchronize_session=False))
                if result.rowcount == 1:
                    expired.append(job_id)
        for job_id in expired:  # after the commit: a reader sees 410 before the files go, never a missing file
            self.delete_outputs(job_id)
        return expired

    # --- histograms -----------------------------------------------------------------------------------------

    def observe(self, metric: str, label: str, value: float, bounds: Sequence[float]) -> None:
        """Add one observation to a shared histogram: its bucket, the +Inf count and the sum grow."""
        bound = next((b for b in bounds if value <= b), math.inf)
        increments = {bucket_name(bound): 1.0, SUM: value}
        if not math.isinf(bound):
            increments[INF] = 1.0
        with self.db.session() as session:
            for bucket, amount in increments.items():
                self._add(session, metric, label, bucket, amount)

    def _add(self, session: Session, metric: str, label: str, bucket: str, amount: float) -> None:
        where = (HistogramBucket.metric == metric, HistogramBucket.label == label, HistogramBucket.bucket == bucket)
        for _ in range(2):  # a concurrent first insert of the same row: the update then finds it
            result = session.execute(update(HistogramBucket).where(*where)
                                     .values(value=HistogramBucket.value + amount))
            if result.rowcount == 1:
                return
            try:
                with session.begin_nested():
                    session.add(HistogramBucket(metric=metric, label=label, bucket=bucket,
                                                value=amount))
                return
            except IntegrityError:
                continue

    def histograms(self, metric: str) -> dict[str, dict[str, float]]:
        """{label: {bucket: value}} of one shared histogram; buckets hold counts per bucket, not cumulative."""
        rows = select(HistogramBucket.label, HistogramBucket.bucket, HistogramBucket.value).where(
            HistogramBucket.metric == metric)
        found: dict[str, dict[str, float]] = {}
        with self.db.session() as session:
            for label, bucket, value in session.execute(rows):
                found.setdefault(label, {})[bucket] = value
        return found

    # --- readings for alerts and /metrics -------------------------------------------------------------------

    def ended_since(self, since: dt.datetime) -> dict[str, int]:
        """How many video jobs ended with each terminal status since `since`."""
        query = (select(Job.status, func.count()).where(Job.kind == "video", Job.status.in_(TERMINAL),
                                                        Job.finished_at >= since).group_by(Job.status))
        with self.db.session() as session:
            return {status: count for status, count in session.execute(query)}

    def oldest_queued_at(self) -> dt.datetime | None:
        """When the job that has waited longest in the queue was created; None when nothing is queued."""
        with self.db.session() as session:
            return session.scalar(select(func.min(Job.created_at)).where(Job.status == "queued"))

    def claim_alert(self, kind: str, repeat_s: float) -> bool:
        """True for the one caller that may send alert `kind` now: none was sent within `repeat_s`."""
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(update(AlertSent).where(
                AlertSent.kind == kind, AlertSent.sent_at <= now - dt.timedelta(seconds=repeat_s))
                .values(sent_at=now).execution_options(synchronize_session=False))
            if result.rowcount == 1:
                return True
            if session.get(AlertSent, kind) is not None:
                return False
            try:
                with session.begin_nested():
                    session.add(AlertSent(kind=kind, sent_at=now))
            except IntegrityError:  # another worker sent it first
                return False
        return True

    def queue_depths(self) -> dict[str, int]:
        """Tasks waiting in the shared queue and in the host queue of each live worker."""
        names = {SHARED_QUEUE, *(worker.queue for worker in self.live_workers())}
        return {name: self.queues.pending(name) for name in sorted(names)}
