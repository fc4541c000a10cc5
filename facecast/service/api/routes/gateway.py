"""The batch gateway HeyGem tutorials teach: POST /api/v1/generate-batch and GET /api/v1/task/{task_id}.

A thin alias of batches. Each template URL becomes a template that a worker downloads and prepares, as
POST /v1/templates/from_url does (the same URL twice in one request is fetched once). When every template has
been downloaded, the gateway creates one batch over them with the shared audio_url; when the batch ends, it
POSTs the task's body to callback_url (signed like every webhook). The task id is the batch's Idempotency-Key
(`heygem:task:<task_id>`), so GET answers from the batch itself, across restarts. The wait for downloads and the
callback run in a thread of the API process: a task whose batch was not yet created when the API restarted is
forgotten (GET answers 404), and a batch ending after a restart sends no callback; poll GET in both cases.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from facecast.engine.errors import FacecastError

from ...fetch import check_url
from ...jobs import JobService, new_id
from ...library import Library
from ...problems import InvalidRequestError, NotFoundError, TemplateNotReadyError
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


@dataclass
class Gateway:
    """Tasks whose batch does not exist yet, by id; kept on app.state."""

    waiting: dict[str, TaskPublic] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, task: TaskPublic) -> None:
        with self.lock:
            self.waiting[task.task_id] = task


async def _gateway(request: Request) -> Gateway:
    """The app's Gateway, created on first use; async, so it runs in the event loop's thread and only once."""
    if not hasattr(request.app.state, "gateway"):
        request.app.state.gateway = Gateway()
    return request.app.state.gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]


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
    return task_public(task_id, batch_public(*jobs.get_batch(owner, batch_id), settings.base_url))


def _add_templates(library: Library, settings: Settings, owner: str, urls: list[str]) -> list[str]:
    """One template per distinct URL, every URL checked before any is added; ids in the order of `urls`."""
    if len(urls) > settings.max_batch_templates:
        raise InvalidRequestError(f"video_templates takes at most {settings.max_batch_templates} URLs")
    distinct = list(dict.fromkeys(urls))
    for url in distinct:
        check_url(url, settings.fetch)
    ids = {url: library.add_template_url(owner, url, url[:200]).id for url in distinct}
    return [ids[url] for url in urls]


def _downloaded_or_raise(library: Library, owner: str, template_ids: list[str]) -> None:
    """Wait until every template's file is stored (what a batch needs); raise if one failed."""
    pending = set(template_ids)
    while pending:
        for template_id in list(pending):
            template = library.get_template(owner, template_id)
            if template.status == "failed":
                raise TemplateNotReadyError(f"template {template.name} failed ({template.error_code}): "
                                            f"{template.error_message}")
            if template.source_key is not None:
                pending.discard(template_id)
        time.sleep(POLL_S if pending else 0)


def _run(gateway: Gateway, library: Library, owner: str, task_id: str, body: GenerateBatch,
         template_ids: list[str]) -> None:
    """The task's life after the 202: batch once downloaded, wait for its end, then the callback."""
    jobs, settings = library.jobs, library.settings
    try:
        _downloaded_or_raise(library, owner, template_ids)
        request = BatchCreate(template_ids=template_ids, audio_url=body.audio_url, metadata={"task_id": task_id})
        jobs.create_batch(owner, request, KEY_PREFIX + task_id)
        with gateway.lock:
            gateway.waiting.pop(task_id, None)
        task = _load(jobs, settings, owner, task_id)
        while task is not None and task.status == "processing":
            time.sleep(POLL_S * 5)
            task = _load(jobs, settings, owner, task_id)
    except FacecastError as error:
        task = TaskPublic(task_id=task_id, status="failed", error=f"{error} [{error.code}]")
        gateway.put(task)
    if body.callback_url and task is not None:
        deliver_body(settings, body.callback_url, EVENT, json.dumps(task.model_dump(mode="json")).encode())


@router.post("/generate-batch", status_code=202, operation_id="heygem_generate_batch", response_model=TaskPublic)
async def generate_batch(body: GenerateBatch, caller: CallerDep, gateway: GatewayDep, library: LibraryDep,
                         settings: SettingsDep) -> TaskPublic:
    """Lip-sync audio_url onto each of video_templates; answers a task_id to poll or await on callback_url."""
    template_ids = await run_in_threadpool(_add_templates, library, settings, caller.tenant_id,
                                           body.video_templates)
    task = TaskPublic(task_id=new_id("task"), status="processing")
    gateway.put(task)
    threading.Thread(target=_run, args=(gateway, library, caller.tenant_id, task.task_id, body, template_ids),
                     daemon=True, name="facecast-gateway").start()
    return task


@router.get("/task/{task_id}", operation_id="heygem_get_task", response_model=TaskPublic)
async def get_task(task_id: TaskIdPath, caller: CallerDep, gateway: GatewayDep, jobs: JobsDep,
                   settings: SettingsDep) -> TaskPublic:
    """A task's status; once ended, result holds the video URLs in the order of video_templates."""
    task = await run_in_threadpool(_load, jobs, settings, caller.tenant_id, task_id)
    with gateway.lock:
        task = task or gateway.waiting.get(task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}; tasks are kept until the API restarts before their batch exists")
    return task
