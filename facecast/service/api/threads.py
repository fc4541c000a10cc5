"""The routes' database calls run off the event loop on a few threads of their own.

FastAPI's shared pool would start one thread per waiting request (up to 40): with 16 clients, 16 threads took turns
on the GIL and on SQLite's write lock, each call stretched over the others' and the event loop waited its turn
behind them all. Here reads have a few threads and creates one, each taken in arrival order. One writer because
SQLite admits one at a time, and a writer that finds its lock taken sleeps in growing steps (up to 100 ms) before
it tries again, while a create waiting here starts the moment the one before it commits. Work that may block for
long on something else (downloads, copying uploads) stays on the shared pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.lowlevel import RunVar

from ..notifiers import targets_or_raise

if TYPE_CHECKING:
    from ..jobs import JobService
    from ..schemas import BatchCreate, VideoCreate
    from ..tenants import Caller

T = TypeVar("T")
READ_THREADS = 2  # a second one, so a read is not queued behind a slow one
WRITE_THREADS = 1
_limiters: RunVar[dict[bool, anyio.CapacityLimiter]] = RunVar("facecast_db_limiters")


async def in_db_thread(function: Callable[..., T], *args: Any, writes: bool = False) -> T:
    """function(*args) on a database thread of this event loop: a create (`writes`) on the writer's, anything
    else on a reader's. Waits for the thread in arrival order."""
    try:
        limiters = _limiters.get()
    except LookupError:
        limiters = {False: anyio.CapacityLimiter(READ_THREADS), True: anyio.CapacityLimiter(WRITE_THREADS)}
        _limiters.set(limiters)
    return await anyio.to_thread.run_sync(function, *args, limiter=limiters[writes])


async def create_in_order(create: Callable[..., T], jobs: JobService, caller: Caller,
                          request: VideoCreate | BatchCreate, idempotency_key: str | None) -> T:
    """jobs.create_video or create_batch on the writer thread, its callback URLs checked first on the shared
    pool: a name that resolves slowly then delays this request alone, not every create queued behind it.

    A repeat of an Idempotency-Key is answered from the first request without any check (the create looks the
    key up before everything else), so its URLs are not checked again here either: a callback host that stopped
    resolving since does not turn a replay into an error."""
    replay = idempotency_key is not None and await in_db_thread(
        jobs.id_for_idempotency_key, caller, idempotency_key) is not None
    notify = None if replay else await anyio.to_thread.run_sync(
        targets_or_raise, jobs.settings, request.notify, request.callback_url)
    return await in_db_thread(functools.partial(create, notify=notify), caller, request, idempotency_key, writes=True)
