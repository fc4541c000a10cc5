"""HeyGem / Duix-Avatar compatibility: POST /easy/submit and GET /easy/query?code=, answered in HeyGem's shape.

Workflows and scripts written for HeyGem switch by changing the host. The caller's `code` names the task; it is
stored as the video's Idempotency-Key (`heygem:<code>`), so a task survives restarts and can be queried any
number of times. `video_url` and `audio_url` are http(s) URLs or file names inside the data directory's heygem/
folder (HeyGem's container path /code/data/ maps onto that folder). URLs are only checked here: a worker
downloads them behind the SSRF guard, within the fetch deadline, so a slow server never holds an API thread.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from facecast.engine.errors import FacecastError

from ...jobs import WAITING_STAGE, JobService
from ...library import Library
from ...problems import NotFoundError, TooManyRequestsError, UrlRefusedError
from ...schemas import VideoCreate, VideoPublic, check_url_field, refuse_unstorable_fields, video_public
from ...settings import Settings
from ...statuses import TERMINAL
from ...tenants import Caller
from ..deps import CallerDep, JobsDep, LibraryDep, SettingsDep

router = APIRouter(prefix="/easy", tags=["heygem"])

FOLDER = "heygem"                  # under data_dir: where file-name inputs are looked up
CONTAINER_PREFIX = "/code/data/"   # HeyGem's data path inside its container; maps onto FOLDER
KEY_PREFIX = "heygem:"
MAX_NAME_CHARS = 255               # a file name inside FOLDER (or CONTAINER_PREFIX + name)
# HeyGem's envelope codes. 10000 and 10004 are HeyGem's; 10002 is what facecast answers for a refused input.
OK, BAD_INPUT, NOT_FOUND = 10000, 10002, 10004
# HeyGem's task states in /easy/query data.status
RUNNING, DONE, FAILED = 1, 2, 3


class EasySubmit(BaseModel):
    """HeyGem's submit body. chaofen, watermark_switch and pn are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    audio_url: str = Field(min_length=1, description="http(s) URL, or a file name in the data directory's heygem/")
    video_url: str = Field(min_length=1, description="Template video: http(s) URL or a file name in heygem/")
    code: str = Field(min_length=1, max_length=200, description="Your task id; query it with GET /easy/query")

    _storable = model_validator(mode="before")(refuse_unstorable_fields)

    @field_validator("audio_url", "video_url")
    @classmethod
    def _url_or_name(cls, value: str) -> str:
        if _is_url(value):
            return check_url_field(value)
        if len(value) > MAX_NAME_CHARS:
            raise ValueError(f"file names are limited to {MAX_NAME_CHARS} characters")
        return value


def _envelope(code: int = OK, data: Any = None, msg: str = "") -> dict[str, Any]:
    return {"code": code, "data": data if data is not None else {}, "msg": msg, "success": code == OK}


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def local_input(settings: Settings, name: str) -> Path:
    """The file `name` names inside data_dir/heygem, refusing anything that resolves outside it.

    Errors name the file and the folder as the caller knows it (heygem/), never this machine's paths.
    """
    folder = (settings.data_dir / FOLDER).resolve()
    relative = name[len(CONTAINER_PREFIX):] if name.startswith(CONTAINER_PREFIX) else name
    shown = Path(relative).name[:100] or relative[:100]
    try:
        candidate = Path(relative)
        path = (candidate if candidate.is_absolute() else folder / candidate).resolve()
        inside, exists = folder in path.parents, path.is_file()
    except (OSError, ValueError):  # a name too long for the file system
        inside = exists = False
    if not inside:
        raise UrlRefusedError(f"{shown!r} is not a file inside the data directory's {FOLDER}/ folder; put the "
                              "file there and send its name, or send an http(s) URL")
    if not exists:
        raise NotFoundError(f"{shown!r} does not exist in the data directory's {FOLDER}/ folder")
    return path


_ADDING = [threading.Lock() for _ in range(32)]  # by template name: one find-or-add of a name at a time


def _adding(caller: Caller, name: str) -> threading.Lock:
    return _ADDING[hash((caller.tenant_id, name)) % len(_ADDING)]


def _template_named(library: Library, caller: Caller, name: str) -> str | None:
    try:
        return library.find_template(caller, name).id
    except NotFoundError:
        return None


def _template_for(settings: Settings, library: Library, caller: Caller, video_url: str) -> str:
    """A template for HeyGem's video_url, reused while the same URL (or the same file content) comes again.
    A URL is recorded for a worker to fetch; the video waits for it (see JobService.create_video). Submits of
    the same video at the same moment find or add it one after the other (in this API process), so they share
    one template instead of preparing it twice."""
    if _is_url(video_url):
        name = KEY_PREFIX + video_url[:180]
        with _adding(caller, name):
            return _template_named(library, caller, name) or library.add_template_url(caller, video_url, name).id
    path = local_input(settings, video_url)
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()[:16]
    name = f"{KEY_PREFIX}{path.name[:150]}#{digest}"
    with _adding(caller, name):
        existing = _template_named(library, caller, name)
        if existing:
            return existing
        with _scratch_copy(settings, path) as copy:
            return library.add_template_file(caller, copy, name).id


@contextmanager
def _scratch_copy(settings: Settings, path: Path) -> Iterator[Path]:
    """A copy of a heygem/ file in a scratch folder under work/: the library moves what it is given into
    storage, and the caller's own file must stay where it is."""
    work = settings.data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        copy = Path(scratch) / path.name
        shutil.copyfile(path, copy)
        yield copy


def _submit(settings: Settings, jobs: JobService, library: Library, caller: Caller, body: EasySubmit) -> None:
    if jobs.id_for_idempotency_key(caller.own(), KEY_PREFIX + body.code) is not None:
        return  # the same task again: HeyGem callers retry submits; the first one stands
    jobs.quota_or_raise(caller)  # before adding its template and audio, which a refused task would leave behind
    template_id = _template_for(settings, library, caller, body.video_url)
    audio: dict[str, str] = {}
    if _is_url(body.audio_url):
        audio["audio_url"] = body.audio_url
    else:
        path = local_input(settings, body.audio_url)
        with _scratch_copy(settings, path) as copy:
            audio["audio_id"] = library.add_audio_file(caller, copy, path.name).id
    request = VideoCreate(template_id=template_id, metadata={"heygem_code": body.code}, **audio)
    jobs.create_video(caller, request, KEY_PREFIX + body.code, wait_for_template=True)


@router.post("/submit", operation_id="heygem_submit")
async def submit(body: EasySubmit, caller: CallerDep, settings: SettingsDep, jobs: JobsDep,
                 library: LibraryDep) -> dict[str, Any]:
    """HeyGem-compatible submit: lip-sync audio_url onto video_url as task `code`; poll GET /easy/query."""
    try:
        await run_in_threadpool(_submit, settings, jobs, library, caller, body)
    except TooManyRequestsError:
        raise  # answered 429 with Retry-After: a limit to wait out, not bad input
    except FacecastError as error:
        return _envelope(BAD_INPUT, msg=f"{error} [{error.code}]")
    return _envelope(msg="submitted")


@router.get("/query", operation_id="heygem_query")
def query(caller: CallerDep, settings: SettingsDep, jobs: JobsDep,
          code: str = Query(description="The code given to /easy/submit")) -> dict[str, Any]:
    """HeyGem-compatible status: data.status 1 running, 2 done (result is the video URL), 3 failed;
    code 10004 when no task has this code."""
    video_id = jobs.id_for_idempotency_key(caller, KEY_PREFIX + code)
    if video_id is None:
        return _envelope(NOT_FOUND, msg=f"no task with code {code!r}")
    try:
        view = video_public(jobs.get(caller, video_id), settings.base_url, jobs.storage.presigned_url)
    except NotFoundError:  # the video was deleted
        return _envelope(NOT_FOUND, msg=f"task {code!r} was deleted")
    return _envelope(data=_task_data(code, view))


def _task_data(code: str, view: VideoPublic) -> dict[str, Any]:
    """HeyGem's data block: status, progress 0-100, the result URL once done, and a message saying what is
    happening or, for a failed task, why (with facecast's error code in brackets)."""
    status = DONE if view.status == "succeeded" else FAILED if view.status in TERMINAL else RUNNING
    if status == FAILED:
        msg = f"{view.error_message or view.status} [{view.error_code or view.status}]"
    elif view.stage == WAITING_STAGE:
        msg = "waiting for the template video to be downloaded and prepared"
    else:
        msg = view.stage or view.status
    return {"code": code, "status": status, "progress": 100 if status == DONE else int(view.progress * 100),
            "result": view.video_url or "", "msg": msg, "error_code": view.error_code,
            "video_duration": view.duration_s, "width": view.width, "height": view.height,
            "video_id": view.id, "video_url": view.video_url}
