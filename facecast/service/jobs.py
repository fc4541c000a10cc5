"""Job state machine and idempotency: the only writer of job, batch and idempotency rows.

States: queued -> processing -> succeeded | failed | canceled; processing -> queued again when a worker's lease
expires with attempts left. Every transition is a compare-and-set UPDATE, so two workers can never both finish a
job, and each transition writes one line to logs/facecast.log.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db.models import TASK_CALLBACK, Audio, Batch, Delivery, IdempotencyKey, Job, Template, Worker, utcnow
from .db.session import Database
from .job_options import JobOptions
from .job_upkeep import JobUpkeep
from .notifiers import targets_or_raise
from .pages import new_id, newest_first_page, request_hash
from .problems import (ExpiredError, IdempotencyConflictError, InvalidStateError, NotFoundError, QuotaExceededError,
                       TemplateNotReadyError)
from .queue import SHARED_QUEUE, QueuedTasks, Queues, host_queue_name
from .resources import disk_space_or_raise
from .schemas import BatchCreate, VideoCreate
from .settings import Settings
from .speech import check_speech_or_raise
from .statuses import ACTIVE, TERMINAL
from .storage import Storage
from .tenants import Caller, owned_or_raise, visible_to

events = logging.getLogger("facecast.jobs")
log = logging.getLogger("facecast.service")
TEMPLATE_HINT = "list them with GET /v1/templates"
AUDIO_HINT = "upload it with POST /v1/audio"
# A job waiting out a retryable failure is parked on this queue, which no worker reads; the sweep moves it back
# to the shared queue after worker.lease_s, which spaces the attempts out.
RETRY_QUEUE = "facecast.retry"
# A video whose template is still being fetched or prepared is parked on RETRY_QUEUE under this stage; the
# template's preparation wakes it when it ends (the sweep also re-checks it every worker.lease_s).
WAITING_STAGE = "waiting_for_template"
# Every file a video job may store is named by its id, so a job that did not succeed (or a deleted one) can be
# cleaned without a result row saying what was written: the worker may die between storing and recording.
OUTPUT_SUFFIXES = ("mp4", "jpg", "srt", "vtt")
# Called inside the transaction that ends a video (service/deliveries.py records its callbacks and notifications).
EndHook = Callable[[Session, str], None]
# Every create routes by the hosts that have a live worker; they are read at most this often. A worker counts as
# alive for a whole lease after its last heartbeat anyway, so a second more changes nothing the sweep does not mend.
LIVE_HOSTS_CACHE_S = 1.0


def output_keys(job_id: str) -> list[str]:
    """Storage keys a job's outputs are written under (outputs/<id>.mp4, .jpg, .srt, .vtt)."""
    return [f"outputs/{job_id}.{suffix}" for suffix in OUTPUT_SUFFIXES]


def _log_event(job: Job | str, status: str, **extra: Any) -> None:
    job_id = job if isinstance(job, str) else job.id
    fields = " ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
    events.info("job=%s status=%s %s", job_id, status, fields, extra={"job_id": job_id})


class JobService(JobUpkeep):
    """Creates, advances and reads jobs; handed to routes (API) and to the runner (workers)."""

    def __init__(self, settings: Settings, db: Database, queues: Queues, storage: Storage,
                 on_end: EndHook | None = None) -> None:
        self.settings = settings
        self.db = db
        self.queues = queues
        self.storage = storage
        self.on_end = on_end
        self._live_hosts_read: tuple[float, frozenset[str]] = (float("-inf"), frozenset())
        self._load_queue_client()

    def _load_queue_client(self) -> None:
        """Import and open the queue client now: its first use costs a second or more (huey and its storage
        drivers), which would otherwise stall the first request that creates a job and every request beside it."""
        try:
            self.queues.huey(SHARED_QUEUE)
        except Exception as exc:  # a queue that does not answer yet is reported by /readyz, not at startup
            log.warning("queue client not loaded (%s: %s)", type(exc).__name__, exc)

    # --- creation -------------------------------------------------------------------------------------------

    def create_video(self, caller: Caller, request: VideoCreate, idempotency_key: str | None = None, *,
                     wait_for_template: bool = False, notify: list[str] | None = None) -> Job:
        """Queue one video. With an Idempotency-Key, a repeat of the same body returns the first job.
        With wait_for_template, a template still being downloaded is accepted: the job waits for it.
        notify: targets_or_raise's answer for this request, when the caller has checked its URLs already."""
        body, owner = request.model_dump(mode="json"), caller.tenant_id
        with self.db.session() as session:
            existing = self._replay(session, owner, idempotency_key, "create_video", body)
            if existing is not None:
                job = self._job_or_raise(session, caller, existing, "video")
        if existing is not None:
            self._requeue_if_lost(job)  # a replay means the caller is waiting: do not leave it to the sweep
            return job
        disk_space_or_raise(self.settings)
        with self.db.session() as session:
            voice = self._voice_or_raise(request)  # the body's own fields first, then what they refer to
            if notify is None:
                notify = targets_or_raise(self.settings, request.notify, request.callback_url)
            self._quota_or_raise(session, caller)
            template = self._usable_template_or_raise(session, caller, request.template_id,
                                                      downloading_ok=wait_for_template)
            self._audio_or_raise(session, caller, request.audio_id)
            job = self._new_video(session, owner, request, template, voice, batch_id=None, metadata=request.metadata,
                                  callback_url=request.callback_url)
            job.notify = notify
            session.add(job)
            self._remember(session, owner, idempotency_key, "create_video", body, job.id)
        self._enqueue(job)
        return job

    def create_batch(self, caller: Caller, request: BatchCreate, idempotency_key: str | None = None, *,
                     wait_for_template: bool = False, task_callback_url: str | None = None,
                     notify: list[str] | None = None) -> tuple[Batch, list[Job]]:
        """Queue one video per template, all sharing one audio (wait_for_template: as for create_video).
        task_callback_url: the HeyGem gateway's callback, sent the task's body once when the batch ends."""
        body, owner = request.model_dump(mode="json"), caller.tenant_id
        with self.db.session() as session:
            existing = self._replay(session, owner, idempotency_key, "create_batch", body)
            if existing is not None:
                return self.get_batch(caller, existing)
            disk_space_or_raise(self.settings)
            if len(request.template_ids) > self.settings.max_batch_templates:
                raise InvalidStateError(f"a batch takes at most {self.settings.max_batch_templates} templates")
            voice = self._voice_or_raise(request)
            if notify is None:
                notify = targets_or_raise(self.settings, request.notify, request.callback_url, task_callback_url)
            self._quota_or_raise(session, caller)
            templates = [self._usable_template_or_raise(session, caller, t, downloading_ok=wait_for_template)
                         for t in request.template_ids]
            self._audio_or_raise(session, caller, request.audio_id)
            batch = Batch(id=new_id("bat"), owner=owner, audio_id=request.audio_id, audio_url=request.audio_url,
                          text=request.text, voice=voice, metadata_=request.metadata,
                          callback_url=request.callback_url or task_callback_url, notify=notify,
                          callback_format=TASK_CALLBACK if task_callback_url else None, created_at=utcnow())
            session.add(batch)
            session.flush()
            jobs = []
            for index, template in enumerate(templates):
                job = self._new_video(session, owner, request, template, voice, batch_id=batch.id, metadata=None,
                                      callback_url=request.callback_url)
                # Children of one batch share created_at order by index, so listing keeps the caller's order.
                job.created_at = batch.created_at + dt.timedelta(microseconds=index)
                jobs.append(job)
            session.add_all(jobs)
            self._remember(session, owner, idempotency_key, "create_batch", body, batch.id)
        for job in jobs:
            self._enqueue(job)
        return batch, jobs

    def create_prepare(self, session: Session, template: Template) -> Job:
        """Add the preparation job of a new template to `session`; call enqueue_after_commit() after commit."""
        job = Job(id=new_id("prp"), kind="prepare", owner=template.owner, status="queued", template_id=template.id,
                  options=JobOptions(), max_attempts=self.settings.worker.max_attempts, created_at=utcnow(),
                  enqueued_at=utcnow(), queue=SHARED_QUEUE)
        session.add(job)
        return job

    def enqueue_after_commit(self, job: Job) -> None:
        self._enqueue(job)

    def _new_video(self, session: Session, owner: str, request: VideoCreate | BatchCreate, template: Template,
                   voice: str | None, *, batch_id: str | None, metadata: dict[str, Any] | None,
                   callback_url: str | None) -> Job:
        now = utcnow()
        return Job(id=new_id("vid"), kind="video", owner=owner, status="queued", template_id=template.id,
                   audio_id=request.audio_id, audio_url=request.audio_url, text=request.text, voice=voice,
                   batch_id=batch_id, options=JobOptions.from_request(request),
                   metadata_=metadata, callback_url=callback_url,
                   max_attempts=self.settings.worker.max_attempts, created_at=now, enqueued_at=now,
                   queue=self._route(session, template))

    def _route(self, session: Session, template: Template) -> str:
        """Prefer a host that already holds the template's tracking cache, if one of its workers is alive."""
        if template.prepared_on and template.prepared_on in self._live_hosts(session):
            return host_queue_name(template.prepared_on)
        return SHARED_QUEUE

    def _live_hosts(self, session: Session) -> frozenset[str]:
        """Host names with a live worker, read at most every LIVE_HOSTS_CACHE_S."""
        read_at, hosts = self._live_hosts_read
        now = time.monotonic()
        if now - read_at >= LIVE_HOSTS_CACHE_S:
            hosts = frozenset(session.scalars(select(Worker.hostname).distinct().where(
                Worker.heartbeat_at > self._dead_before())))
            self._live_hosts_read = (now, hosts)
        return hosts

    def _enqueue(self, job: Job) -> None:
        """Send a committed job's task. A queue that does not answer is logged, not raised: the job is saved
        and the sweep enqueues it once its task is found missing, so the caller still gets the job."""
        try:
            self.queues.enqueue(job.id, job.queue or SHARED_QUEUE)
        except Exception as exc:
            log.warning("job %s saved but not enqueued (%s: %s); the sweep will enqueue it", job.id,
                        type(exc).__name__, exc)
            return
        _log_event(job, "queued", kind=job.kind, queue=job.queue, batch=job.batch_id)

    def _requeue_if_lost(self, job: Job) -> None:
        try:
            lost = self._task_lost(job)
        except Exception as exc:
            log.warning("job %s: could not read the queue (%s: %s)", job.id, type(exc).__name__, exc)
            return
        if lost:
            self._enqueue(job)

    def _task_lost(self, job: Job, tasks: QueuedTasks | None = None) -> bool:
        """True when a queued job has no task any live worker will take: none in its queue, or its queue is
        a host queue no live worker reads, or it is parked for a retry (RETRY_QUEUE is read by nobody)."""
        if job.status != "queued":
            return False
        queue = job.queue or SHARED_QUEUE
        if queue == RETRY_QUEUE:
            return True
        if queue != SHARED_QUEUE and queue not in {w.queue for w in self.live_workers()}:
            return True
        tasks = tasks or QueuedTasks(self.queues)
        return job.id not in tasks.job_ids(queue)

    def _replay(self, session: Session, owner: str, key: str | None, operation: str,
                body: dict[str, Any]) -> str | None:
        if key is None:
            return None
        row = session.get(IdempotencyKey, (owner, key))
        if row is None:
            return None
        if row.operation != operation or row.request_hash != request_hash(body):
            raise IdempotencyConflictError(
                f"Idempotency-Key {key!r} was already used with a different request; use a new key")
        return row.resource_id

    def _remember(self, session: Session, owner: str, key: str | None, operation: str,
                  body: dict[str, Any], resource_id: str) -> None:
        if key is None:
            return
        session.add(IdempotencyKey(owner=owner, key=key, operation=operation, request_hash=request_hash(body),
                                   resource_id=resource_id))
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent request with the same key won the race
            raise IdempotencyConflictError(f"Idempotency-Key {key!r} is being used by a concurrent request; "
                                           "retry to get its result") from exc

    def _usable_template_or_raise(self, session: Session, caller: Caller, template_id: str, *,
                                  downloading_ok: bool = False) -> Template:
        template = owned_or_raise(session, Template, template_id, caller, "template", TEMPLATE_HINT)
        if template.status == "failed":
            raise TemplateNotReadyError(f"template {template_id} failed to prepare ({template.error_code}): "
                                        f"{template.error_message}")
        if template.source_key is None and not downloading_ok:
            raise TemplateNotReadyError(f"template {template_id} is still being downloaded; retry when its "
                                        "status is ready")
        return template

    def _audio_or_raise(self, session: Session, caller: Caller, audio_id: str | None) -> None:
        if audio_id is not None and owned_or_raise(session, Audio, audio_id, caller, "audio", AUDIO_HINT).expired_at:
            raise ExpiredError(f"audio {audio_id} has expired and its file was deleted; {AUDIO_HINT} again")

    def quota_or_raise(self, caller: Caller) -> None:
        """Refuse new work (QuotaExceededError, 429) while `caller` has max_active_jobs videos queued or running."""
        if caller.max_active_jobs is None:
            return
        with self.db.session() as session:
            self._quota_or_raise(session, caller)

    @staticmethod
    def _quota_or_raise(session: Session, caller: Caller) -> None:
        # Checked before the insert, not under a lock: concurrent creates may pass it together, by a few jobs.
        if caller.max_active_jobs is None:
            return
        active = session.scalar(select(func.count()).select_from(Job).where(
            Job.owner == caller.tenant_id, Job.kind == "video", Job.status.in_(ACTIVE))) or 0
        if active >= caller.max_active_jobs:
            raise QuotaExceededError(f"this key has {active} videos queued or running, its limit "
                                     f"(max_active_jobs {caller.max_active_jobs}); retry when some have ended")

    def _voice_or_raise(self, request: VideoCreate | BatchCreate) -> str | None:
        """For text: check text, voice and language now (no synthesis) and return the voice id used."""
        if request.text is None:
            return None
        return check_speech_or_raise(request.text, request.voice, request.speech_options(), self.settings)

    # --- reading --------------------------------------------------------------------------------------------

    def _job_or_raise(self, session: Session, caller: Caller, job_id: str, kind: str = "video") -> Job:
        return owned_or_raise(session, Job, job_id, caller, kind, kind=kind)

    def get(self, caller: Caller, job_id: str) -> Job:
        with self.db.session() as session:
            return self._job_or_raise(session, caller, job_id)

    def list(self, caller: Caller, *, status: str | None = None, batch_id: str | None = None,
             cursor: str | None = None, limit: int = 20) -> tuple[list[Job], str | None]:
        """Newest first; the cursor is the position after the last row returned."""
        query = select(Job).where(visible_to(Job, caller), Job.kind == "video")
        if status:
            query = query.where(Job.status == status)
        if batch_id:
            query = query.where(Job.batch_id == batch_id)
        return newest_first_page(self.db, query, Job, cursor, limit)

    def get_batch(self, caller: Caller, batch_id: str) -> tuple[Batch, list[Job]]:
        with self.db.session() as session:
            batch = owned_or_raise(session, Batch, batch_id, caller, "batch")
            jobs = list(session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.created_at)))
        return batch, jobs

    # --- caller actions -------------------------------------------------------------------------------------

    def cancel(self, caller: Caller, job_id: str) -> Job:
        """Queued jobs end at once; a running job is told through its lease and ends within seconds."""
        with self.db.session() as session:
            job = self._job_or_raise(session, caller, job_id)
            if job.status == "queued":
                if self._set(session, job_id, {"status": "queued"}, status="canceled", finished_at=utcnow(),
                             stage=None):
                    self._ended(session, job_id)
            elif job.status == "processing":
                self._set(session, job_id, {"status": "processing"}, cancel_requested=True)
        job = self.get(caller, job_id)
        if job.status == "canceled":
            _log_event(job, "canceled", by="caller")
        return job

    def delete_video(self, caller: Caller, job_id: str) -> None:
        """Remove an ended video's row and its deliveries (their bodies name it), then its files. Running videos
        must be canceled first."""
        with self.db.session() as session:
            job = self._job_or_raise(session, caller, job_id)
            if job.status not in TERMINAL:
                raise InvalidStateError(f"video {job_id} is {job.status}; cancel it first, then delete it")
            session.execute(delete(Delivery).where(Delivery.subject_id == job.id))  # attempts go with them
            session.delete(job)
        _log_event(job, "deleted")
        self.delete_outputs(job.id)

    def delete_outputs(self, job_id: str) -> None:
        """Remove every file a job may have stored; called when it is deleted or ends without success."""
        for key in output_keys(job_id):
            try:
                self.storage.delete(key)
            except Exception as exc:  # the row is already gone or failed; a file left is logged, not raised
                log.warning("could not delete %s of job %s (%s: %s)", key, job_id, type(exc).__name__, exc)

    def id_for_idempotency_key(self, caller: Caller, key: str) -> str | None:
        """The id of what a create with this Idempotency-Key made, or None if the key is unused; an admin
        finds other tenants' keys too, its own first."""
        query = (select(IdempotencyKey.resource_id).where(IdempotencyKey.key == key, visible_to(IdempotencyKey, caller))
                 .order_by((IdempotencyKey.owner == caller.tenant_id).desc(), IdempotencyKey.created_at.desc()))
        with self.db.session() as session:
            return session.scalar(query.limit(1))

    # --- worker side ----------------------------------------------------------------------------------------

    def claim(self, job_id: str, worker_id: str) -> Job | None:
        """Take a queued job for `worker_id` with a fresh lease; None if it is not queued (done, taken, canceled)."""
        now = utcnow()
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != "queued":
                return None
            if job.attempts >= job.max_attempts:
                self._fail_lost(session, job, now)
                return None
            won = self._set(session, job_id, {"status": "queued", "attempts": job.attempts},
                            status="processing", attempts=job.attempts + 1, lease_owner=worker_id,
                            lease_expires_at=now + self._lease(), started_at=now, progress=0.0, stage="starting")
            if not won:
                return None
        job = self._reload(job_id)
        _log_event(job, "processing", kind=job.kind, attempt=job.attempts, worker=worker_id)
        return job

    def lease_held(self, job_ids: set[str]) -> dict[str, bool]:
        """For those of `job_ids` that are jobs: whether a live lease holds the job (a worker is running it)."""
        if not job_ids:
            return {}
        now = utcnow()
        with self.db.session() as session:
            rows = session.execute(select(Job.id, Job.status, Job.lease_expires_at).where(Job.id.in_(job_ids)))
            return {job_id: status == "processing" and expires is not None and expires > now
                    for job_id, status, expires in rows}

    def queued_in_batch(self, batch_id: str, limit: int) -> list[str]:
        """Ids of the oldest queued videos of a batch, for a worker that renders several at once."""
        query = (select(Job.id).where(Job.batch_id == batch_id, Job.status == "queued", Job.kind == "video")
                 .order_by(Job.created_at, Job.id).limit(limit))
        with self.db.session() as session:
            return list(session.scalars(query))

    def renew(self, job_id: str, worker_id: str, stage: str | None, progress: float) -> str:
        """Extend the lease and record progress. Returns "ok", "cancel" (caller asked) or "lost" (lease gone).

        The cancel flag is read first, so the write lock is held from the update to the commit only: this runs
        every second from a worker at low CPU priority, and the API's creates wait while it holds that lock."""
        with self.db.session() as session:
            cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
            won = self._set(session, job_id, {"status": "processing", "lease_owner": worker_id},
                            lease_expires_at=utcnow() + self._lease(), stage=stage, progress=progress)
        if not won:
            return "lost"
        return "cancel" if cancel else "ok"

    def finish(self, job_id: str, worker_id: str, status: str, *, result: dict[str, Any] | None = None,
               error_code: str | None = None, error_message: str | None = None) -> bool:
        """End a claimed job. False when the lease was lost: another attempt owns the job, drop this outcome."""
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "lease_owner": None,
                                  "lease_expires_at": None, "error_code": error_code, "error_message": error_message}
        if status == "succeeded":
            values.update(progress=1.0, stage=None, result=result)
        with self.db.session() as session:
            won = self._set(session, job_id, {"status": "processing", "lease_owner": worker_id}, **values)
            if won:
                self._ended(session, job_id)
        if won:
            _log_event(job_id, status, worker=worker_id, code=error_code)
        return won

    def retry_later(self, job_id: str, worker_id: str, error_code: str, error_message: str) -> bool:
        """Give a claimed job that hit a passing failure (a speech server down) back to the queue for another
        attempt after about worker.lease_s; the caller checks attempts are left. False when the lease was lost."""
        with self.db.session() as session:
            won = self._set(session, job_id, {"status": "processing", "lease_owner": worker_id}, status="queued",
                            lease_owner=None, lease_expires_at=None, stage="retrying", enqueued_at=utcnow(),
                            queue=RETRY_QUEUE, error_code=error_code, error_message=error_message)
        if won:
            _log_event(job_id, "queued", reason="retry", code=error_code)
        return won

    def load(self, job_id: str) -> Job:
        return self._reload(job_id)

    def park_while_template_prepares(self, job_id: str) -> bool:
        """Park a queued video whose template is still being fetched or prepared, instead of running it; True
        when parked. Preparing the template twice at once (or without its file) would waste a worker."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.kind != "video" or job.status != "queued" or not job.template_id:
                return False
            if not self._template_preparing(session, job.template_id):
                return False
            parked = self._set(session, job_id, {"status": "queued", "queue": job.queue}, queue=RETRY_QUEUE,
                               stage=WAITING_STAGE, enqueued_at=utcnow())
        if parked:
            _log_event(job, "queued", reason=WAITING_STAGE, template=job.template_id)
            with self.db.session() as session:  # the preparation may have ended while this job was parked
                ended = not self._template_preparing(session, job.template_id)
            if ended:
                self.wake_waiting(job.template_id)
        return parked

    def wake_waiting(self, template_id: str) -> int:
        """Send the videos parked for `template_id` back to the shared queue (its preparation ended)."""
        with self.db.session() as session:
            waiting = list(session.scalars(select(Job).where(
                Job.template_id == template_id, Job.kind == "video", Job.status == "queued",
                Job.queue == RETRY_QUEUE, Job.stage == WAITING_STAGE)))
            woken = [job for job in waiting
                     if self._set(session, job.id, {"status": "queued", "queue": RETRY_QUEUE, "stage": WAITING_STAGE},
                                  queue=SHARED_QUEUE, stage=None, enqueued_at=utcnow())]
        for job in woken:
            job.queue = SHARED_QUEUE
            self._enqueue(job)
        return len(woken)

    @staticmethod
    def _template_preparing(session: Session, template_id: str) -> bool:
        """True while the template is preparing and its preparation job is queued or running."""
        template = session.get(Template, template_id)
        if template is None or template.status != "preparing":
            return False
        return session.scalar(select(Job.id).where(Job.template_id == template_id, Job.kind == "prepare",
                                                   Job.status.in_(ACTIVE)).limit(1)) is not None

    def sweep(self) -> int:
        """Recover work a crashed process left: expired leases are retried or failed (and a failed job's files
        removed); queued jobs whose task is gone (taken by a worker that died before claiming, never enqueued,
        or waiting on a host queue no live worker reads) are enqueued again. A queued job whose task is still
        waiting its turn is left alone. Returns how many jobs were re-enqueued. Safe from every worker at once."""
        now = utcnow()
        touched: list[Job] = []
        with self.db.session() as session:
            expired = list(session.scalars(select(Job).where(Job.status == "processing",
                                                             Job.lease_expires_at < now)))
            stale = list(session.scalars(select(Job).where(Job.status == "queued",
                                                           Job.enqueued_at < now - self._lease())))
        tasks = QueuedTasks(self.queues)
        orphans = [job for job in stale if self._task_lost(job, tasks)]
        with self.db.session() as session:
            for job in expired:
                where = {"status": "processing", "lease_owner": job.lease_owner}
                if job.attempts >= job.max_attempts:
                    self._fail_lost(session, job, now, where)
                elif self._set(session, job.id, where, status="queued", lease_owner=None, lease_expires_at=None,
                               stage="requeued", enqueued_at=now, queue=SHARED_QUEUE, cancel_requested=False):
                    touched.append(job)
            for job in orphans:
                if self._set(session, job.id, {"status": "queued", "enqueued_at": job.enqueued_at},
                             enqueued_at=now, queue=SHARED_QUEUE):
                    touched.append(job)
            session.execute(delete(Worker).where(Worker.heartbeat_at < self._dead_before()))
        for job in touched:
            self.queues.enqueue(job.id, SHARED_QUEUE)
            _log_event(job, "queued", reason="recovered", attempts=job.attempts)
        return len(touched)

    def _fail_lost(self, session: Session, job: Job, now: dt.datetime, where: dict[str, Any] | None = None) -> None:
        """End a job whose workers kept dying with worker_lost, and remove what its last attempt stored."""
        if self._set(session, job.id, where or {"status": job.status}, status="failed", finished_at=now,
                     lease_owner=None, lease_expires_at=None, error_code="worker_lost",
                     error_message=_lost_message(job.attempts)):
            self._ended(session, job.id)
            _log_event(job, "failed", code="worker_lost", attempts=job.attempts)
            self.delete_outputs(job.id)

    def heartbeat(self, worker_id: str, hostname: str, pid: int, queue: str) -> None:
        with self.db.session() as session:
            row = session.get(Worker, worker_id)
            if row is None:
                session.add(Worker(id=worker_id, hostname=hostname, pid=pid, queue=queue))
            else:
                row.heartbeat_at = utcnow()

    def forget_worker(self, worker_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(Worker).where(Worker.id == worker_id))

    def live_workers(self) -> Sequence[Worker]:
        with self.db.session() as session:
            return list(session.scalars(select(Worker).where(Worker.heartbeat_at > self._dead_before())))

    # --- operations -----------------------------------------------------------------------------------------

    def counts_by_kind_and_status(self) -> list[tuple[str, str, int]]:
        """(kind, status, number of jobs) for every pair that has jobs."""
        with self.db.session() as session:
            return [(kind, status, count) for kind, status, count in session.execute(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))]

    def probes(self) -> dict[str, Callable[[], None]]:
        """Readiness checks of what jobs depend on; each raises when its dependency does not answer."""
        return {"database": self.db.ping, "queue": self.queues.check}

    def close(self) -> None:
        """Release the database connections (the process, or the app built around this service, is ending)."""
        self.db.dispose()

    # --- helpers --------------------------------------------------------------------------------------------

    def _lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.worker.lease_s)

    def _dead_before(self) -> dt.datetime:
        """Workers that have not renewed their heartbeat for a lease (about three missed beats) are gone."""
        return utcnow() - self._lease()

    def _ended(self, session: Session, job_id: str) -> None:
        """Run on_end in a savepoint: whatever goes wrong there is logged and never keeps the job from ending."""
        try:
            if self.on_end is not None:
                with session.begin_nested():
                    self.on_end(session, job_id)
        except Exception:
            log.exception("job %s ended, but its callbacks and notifications could not be recorded", job_id)

    def _reload(self, job_id: str) -> Job:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"job {job_id} does not exist")
            return job

    @staticmethod
    def _set(session: Session, job_id: str, where: dict[str, Any], **values: Any) -> bool:
        """Compare-and-set: update the row only if every column in `where` still has the given value."""
        conditions = [Job.id == job_id] + [getattr(Job, k) == v if v is not None else getattr(Job, k).is_(None)
                                           for k, v in where.items()]
        result = session.execute(update(Job).where(*conditions).values(**{_column(k): v for k, v in values.items()})
                                 .execution_options(synchronize_session=False))
        return result.rowcount == 1


def _column(name: str) -> str:
    return "metadata" if name == "metadata_" else name


def _lost_message(attempts: int) -> str:
    return (f"the worker running this job stopped {attempts} time(s) (crash or restart); "
            "check the worker's memory and logs, then submit again")
