"""The routes' database calls run off the event loop on a few threads of their own.

FastAPI's shared pool would start one thread per waiting request (up to 40): with 16 clients, 16 threads took turns
on the GIL and on SQLite's write lock, each call stretched over the others' and the event loop waited its turn
behind them all. A few threads, taken in arrival order, do the same work with far fewer stalls. Work that may block
for long on something else (downloads, copying uploads) stays on the shared pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from anyio.lowlevel import RunVar

T = TypeVar("T")
DB_THREADS = 4  # enough that a read is not queued behind a write waiting on a worker's transaction
_limiter: RunVar[anyio.CapacityLimiter] = RunVar("facecast_db_limiter")


async def in_db_thread(function: Callable[..., T], *args: Any) -> T:
    """function(*args) on one of the DB_THREADS threads of this event loop, waiting for one in arrival order."""
    try:
        limiter = _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(DB_THREADS)
        _limiter.set(limiter)
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)
