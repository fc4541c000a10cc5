"""The task queue (huey) on SQLite, Redis or PostgreSQL. It carries job ids only; the jobs table is the truth.

huey's SQLite storage deletes a task when a worker takes it, so a worker killed mid-job leaves nothing in the queue.
That is why jobs carry a lease (service/worker.py renews it) and why the sweep re-enqueues from the jobs table.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .settings import Settings

SHARED_QUEUE = "facecast"
RUN_JOB = "facecast.run_job"

JobHandler = Callable[[str], None]


def host_queue_name(hostname: str) -> str:
    """The queue only workers on `hostname` read: jobs whose template is already tracked there go to it."""
    return f"facecast.host.{hostname}"


def this_host(settings: Settings) -> str:
    """The machine name workers register under and jobs are routed by."""
    return settings.worker.hostname or socket.gethostname()


def _not_a_worker(job_id: str) -> None:
    raise RuntimeError("this process only enqueues; run `facecast worker` to execute jobs")


class Queues:
    """The shared queue plus per-host queues, all in the same huey storage."""

    def __init__(self, settings: Settings, handler: JobHandler | None = None) -> None:
        self.url = settings.effective_queue_url
        self._handler = handler or _not_a_worker
        self._hueys: dict[str, Any] = {}
        self._run_job: dict[str, Any] = {}

    def huey(self, name: str) -> Any:
        """The huey instance for queue `name`, created on first use with the run_job task registered."""
        if name not in self._hueys:
            huey = _make_huey(self.url, name)
            handler = self._handler
            self._run_job[name] = huey.task(name=RUN_JOB)(lambda job_id: handler(job_id))
            self._hueys[name] = huey
        return self._hueys[name]

    def enqueue(self, job_id: str, queue: str = SHARED_QUEUE) -> None:
        self.huey(queue)
        self._run_job[queue](job_id)  # calling a huey task wrapper enqueues it

    def pending(self, queue: str = SHARED_QUEUE) -> int:
        return int(self.huey(queue).pending_count())

    def dequeue(self, queue: str) -> Any | None:
        """Take the next task from `queue`, or None when it is empty."""
        return self.huey(queue).dequeue()

    def execute(self, queue: str, task: Any) -> None:
        self.huey(queue).execute(task)

    def check(self) -> None:
        """Raise if the queue's storage cannot be reached (for /readyz)."""
        self.pending()


class QueuedTasks:
    """The job ids whose tasks wait in each queue, read once per queue: tells a job still waiting its turn
    from one whose task is gone."""

    def __init__(self, queues: Queues) -> None:
        self.queues = queues
        self._ids: dict[str, set[str]] = {}

    def job_ids(self, queue: str) -> set[str]:
        if queue not in self._ids:
            tasks = self.queues.huey(queue).pending()
            self._ids[queue] = {str(task.args[0]) for task in tasks if task.args}
        return self._ids[queue]


def _sqlite_storage() -> type:
    """huey's SQLite storage with synchronous=NORMAL, as the job database uses (db/session.py): in WAL mode a
    commit then waits for no fsync, which under disk load stalled every create for tens of milliseconds. A task
    lost to a power cut (never to a process crash) is found missing and enqueued again by the sweep."""
    from huey.storage import SqliteStorage

    class NormalSyncSqliteStorage(SqliteStorage):  # type: ignore[misc]
        def _create_connection(self) -> Any:
            connection = super()._create_connection()
            connection.execute("pragma synchronous=1")
            return connection

    return NormalSyncSqliteStorage


def _make_huey(url: str, name: str) -> Any:
    if url.startswith("sqlite:///"):
        from huey import SqliteHuey

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, timeout=30, storage_class=_sqlite_storage())
    if url.startswith(("redis://", "rediss://", "unix://")):
        from huey import RedisHuey

        # Non-blocking reads: one worker polls the host queue and the shared queue in turn.
        return RedisHuey(name, url=url, results=False, blocking=False)
    if url.startswith(("postgresql://", "postgres://")):
        from huey import PostgresHuey

        return PostgresHuey(name, dsn=url, results=False, blocking=False)
    raise ValueError(f"queue_url must start with sqlite:///, redis:// or postgresql://, got {url!r}")
