"""Batches: one audio onto many templates, with aggregate status and progress."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from ...schemas import BatchCreate, BatchPublic, batch_public
from ..deps import CallerDep, IdempotencyKeyDep, JobsDep, SettingsDep
from .polling import WaitQuery, answer_created, ended, progress_headers, wait_until

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.post("", status_code=202, operation_id="create_batch", response_model=BatchPublic)
async def create_batch(body: BatchCreate, caller: CallerDep, jobs: JobsDep, settings: SettingsDep,
                       idem: IdempotencyKeyDep, response: Response, wait: WaitQuery = 0) -> BatchPublic:
    """Render one audio onto 1-100 templates. The audio is decoded once and shared; each template gives a video."""
    batch, _ = await run_in_threadpool(jobs.create_batch, caller.tenant_id, body, idem)
    view = await wait_until(lambda: batch_public(*jobs.get_batch(caller.tenant_id, batch.id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            ended, wait)
    return answer_created(response, f"/v1/batches/{view.id}", view)


@router.get("/{batch_id}", operation_id="get_batch", response_model=BatchPublic)
async def get_batch(batch_id: str, caller: CallerDep, jobs: JobsDep, settings: SettingsDep, response: Response,
                    wait: WaitQuery = 0) -> BatchPublic:
    """Get a batch's aggregate status and progress and each of its videos. ?wait=N answers when all have ended."""
    view = await wait_until(lambda: batch_public(*jobs.get_batch(caller.tenant_id, batch_id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            ended, wait)
    progress_headers(response, f"/v1/batches/{view.id}", view.status)
    return view
