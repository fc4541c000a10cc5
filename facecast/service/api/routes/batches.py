"""Batches: one audio onto many templates, with aggregate status and progress."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...schemas import BatchCreate, BatchPublic, DeliveryList, batch_public
from ..deps import CallerDep, DeliveriesDep, IdempotencyKeyDep, JobsDep, SettingsDep
from ..threads import create_in_order
from .polling import WaitQuery, answer_created, ended, progress_headers, wait_until

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.post("", status_code=202, operation_id="create_batch", response_model=BatchPublic)
async def create_batch(body: BatchCreate, caller: CallerDep, jobs: JobsDep, settings: SettingsDep,
                       idem: IdempotencyKeyDep, response: Response, wait: WaitQuery = 0) -> BatchPublic:
    """Render one audio onto 1-100 templates. The audio is decoded once and shared; each template gives a video."""
    batch, _ = await create_in_order(jobs.create_batch, jobs, caller, body, idem)
    view = await wait_until(lambda: batch_public(*jobs.get_batch(caller, batch.id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            ended, wait)
    return answer_created(response, f"/v1/batches/{view.id}", view)


@router.get("/{batch_id}", operation_id="get_batch", response_model=BatchPublic)
async def get_batch(batch_id: str, caller: CallerDep, jobs: JobsDep, settings: SettingsDep, response: Response,
                    wait: WaitQuery = 0) -> BatchPublic:
    """Get a batch's aggregate status and progress and each of its videos. ?wait=N answers when all have ended."""
    view = await wait_until(lambda: batch_public(*jobs.get_batch(caller, batch_id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            ended, wait)
    progress_headers(response, f"/v1/batches/{view.id}", view.status)
    return view


@router.get("/{batch_id}/deliveries", operation_id="list_batch_deliveries", response_model=DeliveryList)
def list_batch_deliveries(batch_id: str, caller: CallerDep, deliveries: DeliveriesDep) -> DeliveryList:
    """The batch's end event (callback, gateway callback, notifications) with every attempt; each video's own
    callback is listed under the video."""
    return DeliveryList(data=deliveries.list_for(caller, "batch", batch_id))


@router.post("/{batch_id}/deliveries/redeliver", status_code=202, operation_id="redeliver_batch",
             response_model=DeliveryList)
def redeliver_batch(batch_id: str, caller: CallerDep, deliveries: DeliveriesDep) -> DeliveryList:
    """Send the ended batch's callback and notifications again, within seconds, with a fresh retry schedule."""
    return DeliveryList(data=deliveries.redeliver(caller, "batch", batch_id))
