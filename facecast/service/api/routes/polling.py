"""What the job routes share: long-polling with ?wait, and the Location/Retry-After headers of a job resource."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query, Response

from ...statuses import TERMINAL
from ..threads import in_db_thread

T = TypeVar("T")
WaitQuery = Annotated[int, Query(ge=0, le=60, description=(
    "Seconds to wait for the job to end before answering (long-poll), 0-60"))]
RETRY_AFTER_S = "2"
POLL_S = 0.2


async def wait_until(load: Callable[[], T], done: Callable[[T], bool], wait_s: int) -> T:
    """Reload until `done` or `wait_s` passes; the database is read on the database threads."""
    deadline = time.monotonic() + wait_s
    value = await in_db_thread(load)
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(min(POLL_S, max(deadline - time.monotonic(), 0)))
        value = await in_db_thread(load)
    return value


def ended(view: Any) -> bool:
    """A video or batch view whose status is final."""
    return view.status in TERMINAL


def progress_headers(response: Response, location: str, status: str) -> None:
    """Location of the resource, and while it runs, when to poll it again."""
    response.headers["Location"] = location
    if status not in TERMINAL:
        response.headers["Retry-After"] = RETRY_AFTER_S


def answer_created(response: Response, location: str, view: T) -> T:
    """A create's answer: 202 with polling headers, or 200 when the job had already ended."""
    progress_headers(response, location, view.status)  # type: ignore[attr-defined]
    if ended(view):
        response.status_code = 200
    return view
