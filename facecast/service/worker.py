"""Worker process: takes job ids from the queue (its host's queue first, then the shared one), runs them one at a
time, renews its heartbeat and sweeps for work that crashed processes left behind."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from types import FrameType
from typing import Any

from .alerts import run_alerts
from .db.session import Database
from .deliveries import Deliveries
from .jobs import JobService
from .lanes import ProcessLanes, forkable, stop_with_parent
from .library import Library
from .logs import configure_logging
from .queue import SHARED_QUEUE, Queues, host_queue_name, this_host
from .retention import expire_once
from .settings import Settings
from .storage import make_storage
from .tasks import JobRunner

log = logging.getLogger("facecast.worker")


def run_worker(settings: Settings, *, stop: threading.Event | None = None, handle_signals: bool = True) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set); the job in hand finishes first.

    Args:
        settings: the effective settings; the worker opens its own database, queue and storage from them.
        stop: set it to stop the loop from another thread (tests, embedded use).
        handle_signals: install SIGTERM/SIGINT handlers (only possible in the main thread).
    """
    configure_logging(settings)
    lower_priority(settings.worker.nice)
    stop = stop or threading.Event()
    if handle_signals:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker %d: signal %d, stopping after the current job", os.getpid(), signum)
            stop.set()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    hostname = this_host(settings)
    worker_id = f"{hostname}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    lanes = ProcessLanes(lane_main, (settings, worker_id)) if forkable() else None
    runner, deliveries, db = _components(settings, worker_id, stop, lanes)
    if lanes is not None and runner.lanes_per_batch > 1:
        lanes.warm_up()
    jobs = runner.jobs
    queues = Queues(settings, handler=runner)
    own_queue = host_queue_name(hostname)
    jobs.heartbeat(worker_id, hostname, os.getpid(), own_queue)
    log.info("worker %s started (queue %s)", worker_id, settings.effective_queue_url.split("@")[-1])

    maintenance = threading.Thread(target=_maintain, args=(jobs, runner, worker_id, own_queue, stop),
                                   daemon=True, name="facecast-maintenance")
    maintenance.start()
    sender = threading.Thread(target=_send_deliveries, args=(deliveries, worker_id, stop), daemon=True,
                              name="facecast-deliveries")
    sender.start()
    threading.Thread(target=_housekeep, args=(jobs, runner.library, stop), daemon=True,
                     name="facecast-housekeeping").start()
    delay, max_delay = 0.05, settings.worker.poll_max_delay_s
    try:
        while not stop.is_set():
            ran = False
            for name in (own_queue, SHARED_QUEUE):
                task = queues.dequeue(name)
                if task is not None:
                    queues.execute(name, task)
                    ran = True
                    break
            delay = 0.05 if ran else min(delay * 1.5, max_delay)
            if not ran:
                stop.wait(delay)
    finally:
        stop.set()
        if lanes is not None:
            lanes.close()  # batch lanes idle between batches end now; one rendering finishes its video first
        sender.join(timeout=settings.delivery.timeout_s + 1)  # let an attempt in flight record its answer
        jobs.forget_worker(worker_id)
        db.dispose()
        log.info("worker %s stopped", worker_id)


def _components(settings: Settings, worker_id: str, stop: Any, lanes: ProcessLanes | None = None,
                migrate: bool = True) -> tuple[JobRunner, Deliveries, Database]:
    """The job runner of a worker (or of one of its batch lanes), over its own database, queue and storage."""
    db = Database(settings.effective_database_url)
    if migrate:  # a batch lane finds the schema up to date: its worker migrated it
        db.migrate()
    storage = make_storage(settings)
    deliveries = Deliveries(settings, db)
    jobs = JobService(settings, db, Queues(settings), storage, on_end=deliveries.record_end)
    return JobRunner(jobs, Library(jobs), storage, worker_id, stop, lanes), deliveries, db


def lane_main(settings: Settings, worker_id: str, stop: Any, batches: Iterable[str]) -> None:
    """A batch lane process (lanes.py): render the queued videos of each batch the worker shares with it (job
    ids from `batches`) under the worker's id."""
    configure_logging(settings)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker too: it tells its lanes to stop
    signal.signal(signal.SIGTERM, lambda _signum, _frame: threading.Thread(target=stop.set).start())
    stop_with_parent(stop)
    runner, _, db = _components(settings, worker_id, stop, migrate=False)
    try:
        for job_id in batches:
            runner.run_siblings_of(job_id)
    finally:
        db.dispose()


def lower_priority(increment: int) -> None:
    """Renders run at a lower CPU priority than the API on the same machine, so status reads stay fast."""
    if increment <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(increment)
    except OSError as exc:
        log.warning("worker %d: could not lower its priority (%s)", os.getpid(), exc)


def stop_when_closed(fd: int, stop: threading.Event) -> None:
    """Set `stop` when the pipe `fd` reaches end-of-file: the process holding its write end has ended."""
    def watch() -> None:
        while os.read(fd, 1):
            pass
        log.info("worker %d: the process that started it has ended; stopping after the current job", os.getpid())
        stop.set()

    threading.Thread(target=watch, daemon=True, name="facecast-lifeline").start()


def _send_deliveries(deliveries: Deliveries, worker_id: str, stop: threading.Event) -> None:
    """Send callbacks and notifications that are due, beside the jobs: a slow receiver never holds up a render."""
    while True:
        try:
            busy = deliveries.send_due(worker_id, stop) > 0
        except Exception as exc:  # the database is away: try again next round
            log.warning("delivery round failed (%s: %s); retrying", type(exc).__name__, exc)
            busy = False
        if stop.wait(0 if busy else deliveries.settings.delivery.poll_s):
            return


def _maintain(jobs: JobService, runner: JobRunner, worker_id: str, queue: str, stop: threading.Event) -> None:
    """Heartbeat, sweep and scratch cleaning on a timer; a failure is logged in one line and retried next round."""
    settings, hostname = jobs.settings, this_host(jobs.settings)
    next_sweep = time.monotonic()
    while True:
        try:
            jobs.heartbeat(worker_id, hostname, os.getpid(), queue)
            if time.monotonic() >= next_sweep:
                recovered = jobs.sweep()
                if recovered:
                    log.info("sweep re-enqueued %d job(s)", recovered)
                runner.clean_orphan_scratch()
                next_sweep = time.monotonic() + settings.worker.sweep_interval_s
        except Exception as exc:
            log.warning("maintenance round failed (%s: %s); retrying", type(exc).__name__, exc)
        if stop.wait(min(settings.worker.sweep_interval_s, settings.worker.lease_s / 3)):
            return


def _housekeep(jobs: JobService, library: Library, stop: threading.Event) -> None:
    """Retention and alerts, each on its own interval; a failure is logged and tried again next round."""
    settings = jobs.settings
    tasks = {"retention": (settings.retention.interval_s, lambda: expire_once(jobs, library, settings.retention)),
             "alerts": (settings.alerts.interval_s, lambda: run_alerts(settings, jobs))}
    due = {name: time.monotonic() for name in tasks}
    while not stop.is_set():
        for name, (interval_s, task) in tasks.items():
            if time.monotonic() < due[name]:
                continue
            try:
                task()
            except Exception as exc:
                log.warning("%s round failed (%s: %s); retrying", name, type(exc).__name__, exc)
            due[name] = time.monotonic() + interval_s
        stop.wait(max(0.5, min(due.values()) - time.monotonic()))
