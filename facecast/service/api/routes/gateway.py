"""The batch gateway HeyGem tutorials teach: POST /api/v1/generate-batch and GET /api/v1/task/{task_id}.

A thin alias of batches. Each template URL becomes a template that a worker downloads and prepares, as
POST /v1/templates with source_url does (the same URL twice in one request is fetched once), and one batch is
created over them at once with the shared audio_url; its videos wait for their templates. The task id is the
batch's Idempotency-Key (`heygem:task:<task_id>`), so GET answers from the batch itself, across restarts. When
the batch ends, the task's body is POSTed to callback_url (signed like every webhook) from a thread of the API
process: a batch that ends after the API restarted sends no callback; poll GET then.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from ...fetch import check_url
from ...jobs import JobService, new_id
from ...library import Library
from ...problems import InvalidRequestError, NotFoundError
from ...schemas import BatchCreate, BatchPublic, batch_public, check_url_field
from ...settings import Settings
from ...webhooks import deliver_body
from ..deps import CallerDep, JobsDep, LibraryDep, SettingsDep
from .polling import POLL_S, ended

router = APIRouter(prefix="/api/v1", tags=["heygem"])

KEY_PREFIX = "heygem:task:"  # under deps.RESERVED_KEY_PREFIXES: clients cannot plant it
EVENT = "task.ended"
TaskStatus = Literal["processing", "completed", "failed"]
TaskIdPath = Annotated[str, Path(pattern=r"^task_[0-9a-f]{1,64}$", description="task_id from generate-batch")]


class GenerateBatch(BaseModel):
    """One audio onto several template videos, each given by URL."""

    audio_url: str = Field(description="http(s) URL of the speech, fetched by the worker")
    video_templates: list[str] = Field(min_length=1, description="http(s) URLs of template videos or photos")
    callback_url: str | None = Field(None, description=(
        "Receives a POST of the task's body (task_id, status, result) when every video has ended"))

    _urls = field_validator("audio_url", "callback_url", mode="before")(check_url_field)

    @field_validator("video_templates")
    @classmethod
    def _template_urls(cls, urls: list[str]) -> list[str]:
        return [check_url_field(url) for url in urls]


class TaskPublic(BaseModel):
    """A gateway task, as GET answers it and the callback receives it."""

    task_id: str = Field(description="Id to query with GET /api/v1/task/{task_id}")
    status: TaskStatus = Field(description="processing, then completed (every video succeeded) or failed")
    result: list[str | None] = Field(default_factory=list, description=(
        "Video URLs in the order of video_templates once ended; null where that video did not succeed"))
    batch_id: str | None = Field(None, description="The facecast batch (GET /v1/batches/{id}) once created")
    error: str | None = Field(None, description="Why the task failed")


def task_public(task_id: str, batch: BatchPublic) -> TaskPublic:
    """The gateway's view of a batch: its status folded into three, its video URLs in order."""
    if not ended(batch):
        return TaskPublic(task_id=task_id, status="processing", batch_id=batch.id)
    failed = [v for v in batch.videos if v.status != "succeeded"]
    error = "; ".join(f"{v.error_code or v.status}: {v.error_message or ''}".strip(": ") for v in failed[:3])
    return TaskPublic(task_id=task_id, status="failed" if failed else "completed", batch_id=batch.id,
                      result=[v.video_url for v in batch.videos], error=error or None)


def _load(jobs: JobService, settings: Settings, owner: str, task_id: str) -> TaskPublic | None:
    batch_id = jobs.id_for_idempotency_key(owner, KEY_PREFIX + task_id)
    if batch_id is None:
        return None
    batch = batch_public(*jobs.get_batch(owner, batch_id), settings.base_url, jobs.storage.presigned_url)
    return task_public(task_id, batch)


def _add_templates(library: Library, settings: Settings, owner: str, urls: list[str]) -> list[str]:
    """One template per distinct URL, every URL checked before any is added; ids in the order of `urls`."""
    if len(urls) > settings.max_batch_templates:
        raise InvalidRequestError(f"video_templates takes at most {settings.max_batch_templates} URLs")
    distinct = list(dict.fromkeys(urls))
    for url in distinct:
        check_url(url, settings.fetch)
    ids = {url: library.add_template_url(owner, url, url[:200]).id for url in distinct}
    return [ids[url] for url in urls]


def _notify_when_ended(jobs: JobService, settings: Settings, owner: str, task_id: str, callback_url: str) -> None:
    """Poll the task's batch until it ends, then POST its body to callback_url."""
    task = _load(jobs, settings, owner, task_id)
    while task is not None and task.status == "processing":
        time.sleep(POLL_S * 5)
        task = _load(jobs, settings, owner, task_id)
    if task is not None:
        deliver_body(settings, callback_url, EVENT, json.dumps(task.model_dump(mode="json")).encode())


def _create(library: Library, settings: Settings, owner: str, body: GenerateBatch) -> TaskPublic:
    """Templates for the URLs and the batch over them, at once; the videos wait for their downloads."""
    template_ids = _add_templates(library, settings, owner, body.video_templates)
    task_id = new_id("task")
    request = BatchCreate(template_ids=template_ids, audio_url=body.audio_url, metadata={"task_id": task_id})
    batch, _ = library.jobs.create_batch(owner, request, KEY_PREFIX + task_id, wait_for_template=True)
    return TaskPublic(task_id=task_id, status="processing", batch_id=batch.id)


@router.post("/generate-batch", status_code=202, operation_id="heygem_generate_batch", response_model=TaskPublic)
async def generate_batch(body: GenerateBatch, caller: CallerDep, library: LibraryDep,
                         settings: SettingsDep) -> TaskPublic:
    """Lip-sync audio_url onto each of video_templates; answers a task_id to poll or await on callback_url."""
    task = await run_in_threadpool(_create, library, settings, caller.tenant_id, body)
    if body.callback_url:
        threading.Thread(target=_notify_when_ended, args=(library.jobs, settings, caller.tenant_id, task.task_id,
                                                          body.callback_url), daemon=True,
                         name="facecast-gateway").start()
    return task


@router.get("/task/{task_id}", operation_id="heygem_get_task", response_model=TaskPublic)
async def get_task(task_id: TaskIdPath, caller: CallerDep, jobs: JobsDep, settings: SettingsDep) -> TaskPublic:
    """A task's status; once ended, result holds the video URLs in the order of video_templates."""
    task = await run_in_threadpool(_load, jobs, settings, caller.tenant_id, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    return task
