"""One-call operations for workflow tools (Dify custom tools, agents): flat scalar bodies, bounded waits.

A Dify custom tool call times out after about 60 s, so these wait at most `wait_s` (50 by default) and answer
with the finished video's URL, or with its id and status for a later get_video. Every body field is a plain
string, number or boolean with a description, because that is all a workflow tool importer keeps.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema

from ...problems import InvalidRequestError
from ...schemas import BatchCreate, VideoCreate, VideoPublic, batch_public, video_public
from ...statuses import TERMINAL
from ..deps import CallerDep, JobsDep, LibraryDep, SettingsDep
from ..threads import create_in_order, in_db_thread
from .polling import RETRY_AFTER_S, wait_until

router = APIRouter(prefix="/v1", tags=["tools"])

# The operations a workflow tool provider needs; `tool_spec` keeps only these.
TOOL_OPERATIONS = ("generate_video", "generate_batch", "get_video", "get_batch", "list_templates", "list_voices",
                   "upload_audio")
MAX_WAIT_S = 55  # below Dify's 60 s read timeout for custom tools, with room for the request itself
DEFAULT_WAIT_S = 50


def _blank_to_none(value: Any) -> Any:
    """Workflow tools send "" for a field left empty; treat it as not given."""
    return None if isinstance(value, str) and not value.strip() else value


class _SpeechFields(BaseModel):
    """Speech given as text (spoken by a voice) or as audio. Optional fields drop the null branch from the
    schema (SkipJsonSchema) so importers see a plain type: a union or a type array becomes a string or crashes."""

    model_config = ConfigDict(extra="forbid")

    text: str | SkipJsonSchema[None] = Field(None, description=(
        "Text to speak (with voice). Give text, or audio_url, or audio_id"))
    voice: str | SkipJsonSchema[None] = Field(None, description=(
        "Voice that speaks text, e.g. espeak:en-us+f3; list them with list_voices. Default: the server's default"))
    audio_url: str | SkipJsonSchema[None] = Field(None, description=(
        "http(s) URL of the speech audio (wav, mp3, m4a, ogg, flac), used instead of text"))
    audio_id: str | SkipJsonSchema[None] = Field(None, description=(
        "Id (aud_...) of audio uploaded with upload_audio, used instead of text"))
    wait_s: int = Field(DEFAULT_WAIT_S, ge=0, le=MAX_WAIT_S, description=(
        f"Seconds to wait for the result, 0-{MAX_WAIT_S}. If it is not done by then, the answer has the id "
        "and status: call get_video (or get_batch) with wait=50 until status is succeeded"))

    @field_validator("text", "voice", "audio_url", "audio_id", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_to_none(value)

    def speech(self) -> dict[str, Any]:
        fields = {"text": self.text, "voice": self.voice, "audio_url": self.audio_url, "audio_id": self.audio_id}
        return {k: v for k, v in fields.items() if v is not None}


class GenerateRequest(_SpeechFields):
    """One lip-synced video, waited for."""

    template_id: str = Field(description="Template id (tpl_...) or template name, e.g. demo; see list_templates")

    @field_validator("template_id", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class GenerateBatchRequest(_SpeechFields):
    """The same speech on several templates, waited for."""

    template_ids: str = Field(description=(
        "Comma-separated template ids or names, e.g. demo,tpl_4c1e...; one video per template (1-100)"))


class GenerateResult(BaseModel):
    """Flat, so a workflow can read video_url directly."""

    status: str = Field(description="succeeded, failed, canceled, or queued/processing if still running")
    video_id: str = Field(description="Video id (vid_...) for get_video")
    video_url: str | None = Field(None, description="MP4 download URL once succeeded")
    thumbnail_url: str | None = Field(None, description="JPEG of the first frame once succeeded")
    progress: float = Field(description="0-1")
    duration_s: float | None = Field(None, description="Video duration in seconds once succeeded")
    template_id: str | None = Field(None, description="The template used")
    needs_review: bool = Field(False, description="Succeeded but below the lip-sync gate: look before using it")
    sync_r: float | None = Field(None, description="Measured lip-sync: mouth vs speech correlation, 0-1")
    offset_ms: float | None = Field(None, description="Measured audio-vs-mouth offset in ms")
    error_code: str | None = Field(None, description="Stable error code when failed")
    error_message: str | None = Field(None, description="What went wrong and what to do")
    message: str = Field(description="One sentence saying what happened and what to do next")


class BatchItem(BaseModel):
    template_id: str | None = Field(None, description="The template")
    video_id: str = Field(description="Video id")
    status: str = Field(description="Video status")
    video_url: str | None = Field(None, description="MP4 URL once succeeded")
    needs_review: bool = Field(False, description="Succeeded but below the lip-sync gate")
    error_message: str | None = Field(None, description="Why it failed")


class GenerateBatchResult(BaseModel):
    status: str = Field(description="succeeded, failed, canceled, or queued/processing if still running")
    batch_id: str = Field(description="Batch id (bat_...) for get_batch")
    progress: float = Field(description="0-1 over all its videos")
    video_urls: list[str] = Field(description="URLs of the videos that succeeded, in template order")
    videos: list[BatchItem] = Field(description="One per template, in the order given")
    message: str = Field(description="One sentence saying what happened and what to do next")


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Build the service's own create request; its validation errors become a 422 problem."""
    unknown = [k for k in data if k not in model.model_fields]
    if unknown:
        raise InvalidRequestError(
            f"this server does not support {', '.join(unknown)} (no text-to-speech?); give audio_url or audio_id")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequestError(detail) from None


def _video_message(view: VideoPublic) -> str:
    if view.status == "succeeded" and view.quality is not None and view.quality.needs_review:
        return (f"The video is ready but its lip-sync is below the gate (sync r {view.quality.sync_r}, offset "
                f"{view.quality.offset_ms} ms); have a person check it before use: {view.video_url}")
    if view.status == "succeeded":
        return f"The video is ready: {view.video_url}"
    if view.status == "failed":
        return f"The video failed ({view.error_code}): {view.error_message}"
    if view.status == "canceled":
        return "The video was canceled."
    return (f"The video is still {view.status} ({view.progress:.0%}); call get_video with video_id={view.id} "
            "and wait=50 to get its URL.")


def generate_result(view: VideoPublic) -> GenerateResult:
    return GenerateResult(status=view.status, video_id=view.id, video_url=view.video_url,
                          thumbnail_url=view.thumbnail_url, progress=view.progress, duration_s=view.duration_s,
                          template_id=view.template_id, needs_review=view.needs_review,
                          sync_r=view.quality.sync_r if view.quality else None,
                          offset_ms=view.quality.offset_ms if view.quality else None, error_code=view.error_code,
                          error_message=view.error_message, message=_video_message(view))


@router.post("/generate", operation_id="generate_video", response_model=GenerateResult, status_code=200,
             responses={202: {"description": "Still running after wait_s: poll get_video with video_id"}})
async def generate_video(body: GenerateRequest, caller: CallerDep, jobs: JobsDep, library: LibraryDep,
                         settings: SettingsDep, response: Response) -> GenerateResult:
    """Make a lip-synced talking video of a template saying the text (with a voice) or the audio, and wait up to
    wait_s seconds for it. Returns video_url when done, else video_id and status to pass to get_video."""
    template = await in_db_thread(library.find_template, caller, body.template_id)
    request = _validated(VideoCreate, {"template_id": template.id, **body.speech()})
    job = await create_in_order(jobs.create_video, jobs, caller, request, None)
    view = await wait_until(lambda: video_public(jobs.get(caller, job.id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            lambda v: v.status in TERMINAL, body.wait_s)
    response.headers["Location"] = f"/v1/videos/{view.id}"
    if view.status not in TERMINAL:
        response.status_code, response.headers["Retry-After"] = 202, RETRY_AFTER_S
    return generate_result(view)


@router.post("/generate/batch", operation_id="generate_batch", response_model=GenerateBatchResult,
             status_code=200, responses={202: {"description": "Still running after wait_s: poll get_batch"}})
async def generate_batch(body: GenerateBatchRequest, caller: CallerDep, jobs: JobsDep, library: LibraryDep,
                         settings: SettingsDep, response: Response) -> GenerateBatchResult:
    """Make one lip-synced video per template, all saying the same text or audio, and wait up to wait_s
    seconds. Returns the video URLs when all are done, else batch_id and status to pass to get_batch."""
    references = [part.strip() for part in body.template_ids.split(",") if part.strip()]
    if not references:
        raise InvalidRequestError("template_ids: give at least one template id or name, comma-separated")
    ids = [(await in_db_thread(library.find_template, caller, r)).id for r in references]
    request = _validated(BatchCreate, {"template_ids": ids, **body.speech()})
    batch, _ = await create_in_order(jobs.create_batch, jobs, caller, request, None)
    view = await wait_until(lambda: batch_public(*jobs.get_batch(caller, batch.id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            lambda v: v.status in TERMINAL, body.wait_s)
    response.headers["Location"] = f"/v1/batches/{view.id}"
    if view.status not in TERMINAL:
        response.status_code, response.headers["Retry-After"] = 202, RETRY_AFTER_S
    urls = [v.video_url for v in view.videos if v.video_url]
    if view.status in TERMINAL:
        message = f"{len(urls)} of {len(view.videos)} videos succeeded: " + " ".join(urls)
    else:
        message = (f"The batch is still {view.status} ({view.progress:.0%}); call get_batch with "
                   f"batch_id={view.id} and wait=50 to get the URLs.")
    return GenerateBatchResult(
        status=view.status, batch_id=view.id, progress=view.progress, video_urls=urls, message=message,
        videos=[BatchItem(template_id=v.template_id, video_id=v.id, status=v.status, video_url=v.video_url,
                          needs_review=v.needs_review, error_message=v.error_message) for v in view.videos])


@router.get("/tools/openapi.json", include_in_schema=False)
def tools_openapi(request: Request, settings: SettingsDep,
                  server_url: Annotated[str | None, Query(description="Base URL Dify reaches facecast at")] = None,
                  ) -> dict[str, Any]:
    """The tool operations only, ready for Dify's "Import from URL"; servers from ?server_url= or public_url."""
    return tool_spec(request.app.openapi(), server_url or settings.base_url)


def tool_spec(spec: dict[str, Any], server_url: str, operations: tuple[str, ...] = TOOL_OPERATIONS,
              ) -> dict[str, Any]:
    """A copy of `spec` with only `operations` and one server: what a workflow tool provider should import."""
    result = copy.deepcopy(spec)
    result["servers"] = [{"url": server_url.rstrip("/"), "description": "facecast"}]
    paths: dict[str, Any] = {}
    for path, item in result.get("paths", {}).items():
        kept = {method: op for method, op in item.items()
                if isinstance(op, dict) and op.get("operationId") in operations}
        if kept:
            paths[path] = kept
    result["paths"] = paths
    for item in paths.values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                _describe(parameter, parameter.get("schema", {}))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                _mark_binary(result, content.get("schema", {}))
    return result


def _mark_binary(spec: dict[str, Any], schema: dict[str, Any]) -> None:
    """OpenAPI 3.1 writes uploads as contentMediaType; importers look for format: binary to offer a file input."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "string" and "contentMediaType" in prop:
            prop["format"] = "binary"


# Path parameters of the existing routes carry no description; importers show the description only.
PARAMETER_HINTS = {
    "video_id": "Video id (vid_...) returned by generate_video or create_video",
    "batch_id": "Batch id (bat_...) returned by generate_batch or create_batch",
    "wait": "Seconds to wait for the job to end before answering (long-poll); use 50 from Dify, whose tools "
            "time out after 60 s",
}


def _describe(parameter: dict[str, Any], schema: dict[str, Any]) -> None:
    """Give a parameter a description (importers ignore title) that lists its allowed values (they ignore enum)."""
    description = PARAMETER_HINTS.get(parameter["name"]) or parameter.get("description") or schema.get("title", "")
    values = schema.get("enum") or [v for option in schema.get("anyOf", []) for v in option.get("enum", [])]
    if values and not all(str(v) in description for v in values):
        description = f"{description}: one of {', '.join(str(v) for v in values)}"
    parameter["description"] = description
