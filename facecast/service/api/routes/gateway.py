"""The batch gateway HeyGem tutorials teach: POST /api/v1/generate-batch and GET /api/v1/task/{task_id}.

A thin alias of batches. Each template URL becomes a template that a worker downloads and prepares, as
POST /v1/templates with source_url does (the same URL twice in one request is fetched once), and one batch is
created over them at once with the shared audio_url; its videos wait for their templates. The task id is the
batch's Idempotency-Key (`heygem:task:<task_id>`), so GET answers from the batch itself, across restarts. When
the batch ends, the task's body is POSTed to callback_url as a delivery (service/deliveries.py): signed like every
webhook, sent by any live worker, retried, and listed by GET /v1/batches/{batch_id}/deliveries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from ...fetch import check_url
from ...jobs import JobService
from ...pages import new_id
from ...library import Library
from ...problems import InvalidRequestError, NotFoundError
from ...schemas import BatchCreate, TaskPublic, batch_public, check_url_field, task_public
from ...settings import Settings
from ...tenants import Caller
from ..deps import CallerDep, JobsDep, LibraryDep, SettingsDep
from ..threads import in_db_thread

router = APIRouter(prefix="/api/v1", tags=["heygem"])

KEY_PREFIX = "heygem:task:"  # under deps.RESERVED_KEY_PREFIXES: clients cannot plant it
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


def _load(jobs: JobService, settings: Settings, caller: Caller, task_id: str) -> TaskPublic | None:
    batch_id = jobs.id_for_idempotency_key(caller, KEY_PREFIX + task_id)
    if batch_id is None:
        return None
    batch = batch_public(*jobs.get_batch(caller, batch_id), settings.base_url, jobs.storage.presigned_url)
    return task_public(task_id, batch)


def _add_templates(library: Library, settings: Settings, caller: Caller, urls: list[str]) -> list[str]:
    """One template per distinct URL, every URL checked before any is added; ids in the order of `urls`."""
    if len(urls) > settings.max_batch_templates:
        raise InvalidRequestError(f"video_templates takes at most {settings.max_batch_templates} URLs")
    distinct = list(dict.fromkeys(urls))
    for url in distinct:
        check_url(url, settings.fetch)
    ids = {url: library.add_template_url(caller, url, url[:200]).id for url in distinct}
    return [ids[url] for url in urls]


def _create(library: Library, settings: Settings, caller: Caller, body: GenerateBatch) -> TaskPublic:
    """Templates for the URLs and the batch over them, at once; the videos wait for their downloads. The callback
    URL and the quota are checked first, so that a refused request leaves no templates behind."""
    if body.callback_url:
        check_url(body.callback_url, settings.fetch)
    library.jobs.quota_or_raise(caller)
    template_ids = _add_templates(library, settings, caller, body.video_templates)
    task_id = new_id("task")
    request = BatchCreate(template_ids=template_ids, audio_url=body.audio_url, metadata={"task_id": task_id})
    batch, _ = library.jobs.create_batch(caller, request, KEY_PREFIX + task_id, wait_for_template=True,
                                         task_callback_url=body.callback_url)
    return TaskPublic(task_id=task_id, status="processing", batch_id=batch.id)


@router.post("/generate-batch", status_code=202, operation_id="heygem_generate_batch", response_model=TaskPublic)
async def generate_batch(body: GenerateBatch, caller: CallerDep, library: LibraryDep,
                         settings: SettingsDep) -> TaskPublic:
    """Lip-sync audio_url onto each of video_templates; answers a task_id to poll or await on callback_url."""
    return await run_in_threadpool(_create, library, settings, caller, body)


@router.get("/task/{task_id}", operation_id="heygem_get_task", response_model=TaskPublic)
async def get_task(task_id: TaskIdPath, caller: CallerDep, jobs: JobsDep, settings: SettingsDep) -> TaskPublic:
    """A task's status; once ended, result holds the video URLs in the order of video_templates."""
    task = await in_db_thread(_load, jobs, settings, caller, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    return task
