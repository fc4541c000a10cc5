"""Request and response bodies, one family per resource (Create / Update / Public / List)."""

from __future__ import annotations

import datetime as dt
import json
import typing
from collections.abc import Callable
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from facecast.engine.options import GenerateOptions
from facecast.engine.optionspec import field_help, option_specs
from facecast.engine.results import QualityReport, TemplateFacts
from facecast.voice.options import SubtitleOptions, SynthesisOptions
from facecast.voice.text import MAX_TEXT_CHARS

from .fetch import check_url_syntax
from .statuses import ACTIVE, TERMINAL, DeliveryStatus, JobStatus, TemplateStatus

# metadata is stored with the job and echoed in every list page: bounded so a page stays small
METADATA_MAX_BYTES = 16 * 1024   # serialized as UTF-8 JSON
METADATA_MAX_DEPTH = 8           # the object itself is depth 1
METADATA_MAX_KEYS = 64           # keys of all its objects together
METADATA_LIMITS = (f"At most {METADATA_MAX_BYTES // 1024} KiB as JSON, {METADATA_MAX_KEYS} keys and "
                   f"{METADATA_MAX_DEPTH} levels")


def unstorable(text: str) -> str | None:
    """Why a database cannot store `text` (a NUL, or a lone surrogate that is not UTF-8), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid UTF-8)"
    return None


def refuse_unstorable_fields(data: Any) -> Any:
    """A model `before` validator: refuse top-level strings (and strings in top-level lists) no database stores."""
    if isinstance(data, dict):
        for name, value in data.items():
            for item in value if isinstance(value, list) else [value]:
                reason = unstorable(item) if isinstance(item, str) else None
                if reason:
                    raise ValueError(f"{name} {reason}")
    return data


def check_metadata(value: Any) -> Any:
    """Refuse metadata over the size, depth or key limits, or holding strings no database stores."""
    if not isinstance(value, dict):
        return value  # None, or a type error pydantic words itself
    keys, stack = 0, [(1, value)]
    while stack:
        depth, node = stack.pop()
        if depth > METADATA_MAX_DEPTH:
            raise ValueError(f"metadata is nested deeper than {METADATA_MAX_DEPTH} levels")
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        strings = [node] if isinstance(node, str) else list(node) if isinstance(node, dict) else []
        keys += len(node) if isinstance(node, dict) else 0
        if keys > METADATA_MAX_KEYS:
            raise ValueError(f"metadata has more than {METADATA_MAX_KEYS} keys")
        for text in strings:
            reason = unstorable(text) if isinstance(text, str) else None
            if reason:
                raise ValueError(f"metadata {reason}")
        stack.extend((depth + 1, child) for child in children)
    if len(json.dumps(value, ensure_ascii=False).encode()) > METADATA_MAX_BYTES:
        raise ValueError(f"metadata is larger than {METADATA_MAX_BYTES:,} bytes as JSON")
    return value


def check_url_field(value: Any) -> Any:
    """An http(s) URL field: the fetcher's syntax rules, refused at submit (UrlRefusedError, 422 url_refused)."""
    if isinstance(value, str):
        check_url_syntax(value)
    return value


def result_model(name: str, result: type, doc: str, exclude: tuple[str, ...] = (),
                 **extra: Any) -> type[BaseModel]:
    """A response model with the fields of an engine result dataclass (`described`: same types and help)."""
    hints = typing.get_type_hints(result)
    fields: dict[str, Any] = {
        field: (hints[field], Field(None if type(None) in typing.get_args(hints[field]) else ..., description=help))
        for field, help in field_help(result).items() if field not in exclude}
    return create_model(name, __doc__=doc, **fields, **extra)


class OptionGroup(BaseModel):
    """Request fields derived from the option dataclasses (optionspec); null means the option's default."""

    model_config = ConfigDict(extra="forbid")

    def given(self, group: type[OptionGroup]) -> dict[str, Any]:
        """The options of `group` this request sets to a value."""
        return {name: getattr(self, name) for name in group.model_fields if getattr(self, name) is not None}


def option_group(name: str, doc: str, *option_classes: type) -> type[OptionGroup]:
    """A request model with one field per API option of `option_classes`: same default, bounds and help."""
    fields: dict[str, Any] = {
        spec.name: (Optional[spec.type], Field(spec.default, ge=spec.min, le=spec.max, description=spec.help))
        for cls in option_classes for spec in option_specs(cls) if spec.api}
    return create_model(name, __base__=OptionGroup, __doc__=doc, **fields)


OutputOptions = option_group("OutputOptions", "Output options, flat so workflow tools can fill them as plain fields.",
                             GenerateOptions)
SpeechOptions = option_group("SpeechOptions", "How text is spoken, and the subtitles of a text job.",
                             SynthesisOptions, SubtitleOptions)
SPEECH_FIELDS = ("voice", *SpeechOptions.model_fields)


class AudioSource(SpeechOptions):  # type: ignore[valid-type,misc]
    """Where the speech comes from: an uploaded audio, an audio URL, or a text spoken by a voice."""

    audio_id: str | None = Field(None, description="Id of audio uploaded with POST /v1/audio")
    audio_url: str | None = Field(None, description="http(s) URL of an audio file, fetched by the worker")
    text: str | None = Field(None, description=(
        f"Text to speak instead of audio, up to {MAX_TEXT_CHARS:,} characters; synthesised by the worker "
        "sentence by sentence, the mouth following the voice's phonemes"),
        json_schema_extra={"maxLength": MAX_TEXT_CHARS})
    voice: str | None = Field(None, max_length=200, description=(
        "Voice id for text, from GET /v1/voices (e.g. espeak:en-us, espeak:cmn); default is the server's "
        "default voice"))

    _audio_url = field_validator("audio_url", mode="before")(check_url_field)

    @model_validator(mode="after")
    def _one_audio_source(self) -> "AudioSource":
        given = [name for name in ("audio_id", "audio_url", "text") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one audio source: audio_id or audio_url (an audio file), or text "
                             f"(spoken by a voice); got {', '.join(given) or 'none'}")
        speech_only = [name for name in SPEECH_FIELDS
                       if name in self.model_fields_set and getattr(self, name) is not None]
        if self.text is None and speech_only:
            raise ValueError(f"{', '.join(speech_only)} only apply to text; remove them or give text instead of "
                             "audio")
        return self

    def speech_options(self) -> dict[str, Any]:
        """The synthesis and subtitle options given, for text jobs (stored with the job's options)."""
        return self.given(SpeechOptions)


class SubmitChecks(BaseModel):
    """What every create body shares: who hears of the end, its metadata, and their checks (strings a database
    stores, the callback URL's syntax, bounded metadata)."""

    callback_url: str | None = Field(None, description=(
        "URL that receives a signed POST (Standard Webhooks) when the video ends (a batch: each video, then the "
        "batch); retried for about an hour"))
    notify: list[str] | None = Field(None, max_length=10, description=(
        "Names of the server's chat notifiers to tell when the video (a batch: the batch) ends; default the "
        "server's list"))
    metadata: dict[str, Any] | None = Field(None, description=(
        f"Any JSON object; echoed back on the video (or batch). {METADATA_LIMITS}"))

    _storable = model_validator(mode="before")(refuse_unstorable_fields)
    _callback_url = field_validator("callback_url", mode="before")(check_url_field)
    _metadata = field_validator("metadata", mode="before")(check_metadata)


class VideoCreate(SubmitChecks, OutputOptions, AudioSource):  # type: ignore[valid-type,misc]
    """A lip-sync job: one template and one speech source (audio_id, audio_url, or text with a voice)."""

    template_id: str = Field(description="Id of a template from POST /v1/templates")


class BatchCreate(SubmitChecks, OutputOptions, AudioSource):  # type: ignore[valid-type,misc]
    """One speech onto 1-100 templates; the audio is decoded (or the text synthesised) once and shared."""

    template_ids: list[str] = Field(min_length=1, description="Templates to render, 1-100, each becomes a video")


QualityPublic = result_model(
    "QualityPublic", QualityReport, "Lip-sync measured on the finished video (a sample of its frames, re-tracked), "
    "and the gate's verdict.",
    needs_review=(bool, Field(description="Not passed: a person should look at the video before it is used")))


class VideoPublic(BaseModel):
    """A video job as clients see it."""

    id: str = Field(description="Video id, vid_...")
    object: Literal["video"] = Field("video", description="Always video")
    status: JobStatus = Field(description="queued, processing, succeeded, failed or canceled")
    progress: float = Field(description="0-1")
    stage: str | None = Field(None, description="Current step, e.g. tracking, rendering, encoding")
    eta_s: float | None = Field(None, description="Estimated seconds left while processing")
    attempts: int = Field(description="Runs started; more than 1 after a worker was lost")
    created_at: dt.datetime = Field(description="When the job was accepted")
    started_at: dt.datetime | None = Field(None, description="When the current run started")
    finished_at: dt.datetime | None = Field(None, description="When the job ended")
    template_id: str | None = Field(None, description="The template")
    audio_id: str | None = Field(None, description="The uploaded audio, if one was used")
    audio_url: str | None = Field(None, description="The audio URL, if one was used")
    voice: str | None = Field(None, description="The voice that spoke the text, for text jobs")
    text: str | None = Field(None, description="The text that was spoken, for text jobs")
    options: dict[str, Any] | None = Field(None, description=(
        "The job's options as VideoCreate fields, so the same job can be made again"))
    batch_id: str | None = Field(None, description="The batch this video belongs to")
    metadata: dict[str, Any] | None = Field(None, description="As given at creation")
    duration_s: float | None = Field(None, description="Output duration in seconds")
    size_bytes: int | None = Field(None, description="Output size in bytes")
    width: int | None = Field(None, description="Output width in pixels")
    height: int | None = Field(None, description="Output height in pixels")
    video_url: str | None = Field(None, description=(
        "Download URL once succeeded (supports Range); with S3 storage a presigned URL valid for "
        "s3.url_expiry_s, issued anew on each read of the job"))
    thumbnail_url: str | None = Field(None, description="JPEG of the template's first frame once succeeded")
    subtitles_srt_url: str | None = Field(None, description="SRT subtitles timed from the speech (text jobs)")
    subtitles_vtt_url: str | None = Field(None, description="WebVTT subtitles timed from the speech (text jobs)")
    quality: QualityPublic | None = Field(  # type: ignore[valid-type]
        None, description="Lip-sync measured on the output once succeeded")
    needs_review: bool = Field(False, description=(
        "Succeeded, but below the lip-sync gate (quality_action=review): look before using it"))
    error_code: str | None = Field(None, description="Stable error code when failed")
    error_message: str | None = Field(None, description="What went wrong and what to do")
    expired_at: dt.datetime | None = Field(None, description=(
        "When retention deleted the video's files: the URLs are gone and downloads answer 410 expired"))


class VideoList(BaseModel):
    data: list[VideoPublic] = Field(description="Newest first")
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


TemplateFactsPublic = result_model("TemplateFactsPublic", TemplateFacts, "What a template is.",
                                   exclude=("rotation", "mouth_range"))


class TemplateCreate(BaseModel):
    """A template fetched from a URL."""

    model_config = ConfigDict(extra="forbid")

    source_url: str = Field(description="http(s) URL of a video or photo showing one face")
    name: str | None = Field(None, max_length=200, description="Display name; defaults to the id")

    _storable = model_validator(mode="before")(refuse_unstorable_fields)
    _source_url = field_validator("source_url", mode="before")(check_url_field)


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="New display name")

    _storable = model_validator(mode="before")(refuse_unstorable_fields)


class TemplatePublic(BaseModel):
    id: str = Field(description="Template id, tpl_...")
    object: Literal["template"] = Field("template", description="Always template")
    name: str = Field(description="Display name")
    status: TemplateStatus = Field(description="preparing, ready or failed")
    created_at: dt.datetime = Field(description="When it was added")
    source_url: str | None = Field(None, description="Where it was fetched from, if from a URL")
    size_bytes: int | None = Field(None, description="Source file size")
    thumbnail_url: str | None = Field(None, description="JPEG thumbnail once ready")
    facts: TemplateFactsPublic | None = Field(  # type: ignore[valid-type]
        None, description="Resolution, fps, duration, face coverage")
    error_code: str | None = Field(None, description="Why preparation failed")
    error_message: str | None = Field(None, description="What to do about it")


class TemplateList(BaseModel):
    data: list[TemplatePublic] = Field(description="Newest first")
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


class AudioPublic(BaseModel):
    id: str = Field(description="Audio id, aud_...")
    object: Literal["audio"] = Field("audio", description="Always audio")
    duration_s: float | None = Field(None, description="Seconds")
    size_bytes: int = Field(description="Bytes as uploaded")
    filename: str | None = Field(None, description="The uploaded file's name, for display only")
    created_at: dt.datetime = Field(description="When it was uploaded")
    expired_at: dt.datetime | None = Field(None, description=(
        "When retention deleted the file; new jobs can no longer use it (410 expired)"))


class BatchPublic(BaseModel):
    id: str = Field(description="Batch id, bat_...")
    object: Literal["batch"] = Field("batch", description="Always batch")
    status: JobStatus = Field(description="processing until every video ends; then succeeded, failed or canceled")
    progress: float = Field(description="Mean progress of its videos, 0-1")
    counts: dict[str, int] = Field(description="Videos per status")
    audio_id: str | None = Field(None, description="The shared audio")
    audio_url: str | None = Field(None, description="The shared audio URL")
    voice: str | None = Field(None, description="The voice speaking the shared text, for text batches")
    metadata: dict[str, Any] | None = Field(None, description="As given at creation")
    created_at: dt.datetime = Field(description="When the batch was accepted")
    videos: list[VideoPublic] = Field(description="One per template, in the order given")


TaskStatus = Literal["processing", "completed", "failed"]


class TaskPublic(BaseModel):
    """A HeyGem-gateway task, as GET /api/v1/task/{task_id} answers it and its callback receives it."""

    task_id: str = Field(description="Id to query with GET /api/v1/task/{task_id}")
    status: TaskStatus = Field(description="processing, then completed (every video succeeded) or failed")
    result: list[str | None] = Field(default_factory=list, description=(
        "Video URLs in the order of video_templates once ended; null where that video did not succeed"))
    batch_id: str | None = Field(None, description="The facecast batch (GET /v1/batches/{id}) once created")
    error: str | None = Field(None, description="Why the task failed")


def task_public(task_id: str, batch: BatchPublic) -> TaskPublic:
    """The gateway's view of a batch: its status folded into three, its video URLs in order."""
    if batch.status not in TERMINAL:
        return TaskPublic(task_id=task_id, status="processing", batch_id=batch.id)
    failed = [v for v in batch.videos if v.status != "succeeded"]
    error = "; ".join(f"{v.error_code or v.status}: {v.error_message or ''}".strip(": ") for v in failed[:3])
    return TaskPublic(task_id=task_id, status="failed" if failed else "completed", batch_id=batch.id,
                      result=[v.video_url for v in batch.videos], error=error or None)


class DeliveryAttemptPublic(BaseModel):
    """One try at sending a delivery."""

    at: dt.datetime = Field(description="When the attempt started")
    status_code: int | None = Field(None, description="The HTTP status the target answered; null: no answer")
    error: str | None = Field(None, description="Why the attempt failed (no answer, a refusal); null if delivered")
    duration_ms: int | None = Field(None, description="How long the request took")


class DeliveryPublic(BaseModel):
    """One event sent to one target: the callback URL (kind webhook) or a chat notifier (kind = its name)."""

    id: str = Field(description="Delivery id, sent as the webhook-id header (the same on every retry)")
    object: Literal["delivery"] = Field("delivery", description="Always delivery")
    kind: str = Field(description="webhook, or the name of the notifier")
    url: str | None = Field(None, description="The callback URL (webhooks only: notifier URLs hold tokens)")
    event: str = Field(description="video.succeeded, video.failed, video.canceled, batch.<status> or task.ended")
    status: DeliveryStatus = Field(description="pending (being tried), delivered, or failed (attempts used up)")
    next_attempt_at: dt.datetime | None = Field(None, description="When the next attempt is due, while pending")
    created_at: dt.datetime = Field(description="When the event happened")
    attempts: list[DeliveryAttemptPublic] = Field(description="Every attempt so far, oldest first")


class DeliveryList(BaseModel):
    data: list[DeliveryPublic] = Field(description="The subject's deliveries, oldest first")


class VoicePublic(BaseModel):
    """A voice that text jobs can use."""

    id: str = Field(description="Voice id to pass as voice, e.g. espeak:en-us, piper:amy, openai:local/alloy")
    object: Literal["voice"] = Field("voice", description="Always voice")
    engine: str = Field(description="espeak, piper or openai")
    language: str | None = Field(None, description="Language code such as en-us or cmn; null when unknown")
    gender: str | None = Field(None, description="male, female or null when unknown")
    name: str = Field(description="Human-readable name")
    preview_url: str = Field(description="A short WAV of the voice reading a sample sentence")


class VoiceList(BaseModel):
    data: list[VoicePublic] = Field(description="Voices sorted by id")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI naming the problem type")
    title: str = Field(description="Short summary")
    status: int = Field(description="HTTP status")
    detail: str = Field(description="What went wrong and what to do")
    code: str = Field(description="Stable machine-readable code")
    instance: str | None = Field(None, description="The request path")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="ok when every check passes")
    checks: dict[str, str] = Field(description="Each check and its result")


def eta_seconds(progress: float, started_at: dt.datetime | None) -> float | None:
    """Remaining time from the elapsed time and progress so far; None until progress says something."""
    if started_at is None or progress <= 0.02 or progress >= 1.0:
        return None
    elapsed = (dt.datetime.now(dt.timezone.utc) - started_at).total_seconds()
    return round(elapsed * (1.0 - progress) / progress, 1)


def job_option_fields(job: Any) -> dict[str, Any] | None:
    """A job's stored options as request fields; the speech ones only for text jobs, where they apply."""
    options = job.options
    if options is None:
        return None
    return {**options.output.given(OutputOptions), **(options.speech.given(SpeechOptions) if job.text else {})}


# Where each result file of a succeeded video is served through the API: (result key field, URL path suffix)
RESULT_FILES = {"video_url": ("video_key", "content"), "thumbnail_url": ("thumbnail_key", "thumbnail"),
                "subtitles_srt_url": ("srt_key", "subtitles.srt"), "subtitles_vtt_url": ("vtt_key", "subtitles.vtt")}
Presign = Callable[[str], Optional[str]]


def result_urls(job: Any, base_url: str, presign: Presign | None = None) -> dict[str, str | None]:
    """The download URLs of a job's result files: presigned storage URLs when `presign` gives one (S3),
    otherwise this API's own routes. None for files it does not have, and all None once expired."""
    result = job.result or {}
    live = job.status == "succeeded" and job.expired_at is None
    urls: dict[str, str | None] = {}
    for field, (key_field, suffix) in RESULT_FILES.items():
        key = result.get(key_field) if live else None
        urls[field] = ((presign(key) if presign else None) or f"{base_url}/v1/videos/{job.id}/{suffix}") if key \
            else None
    return urls


def video_public(job: Any, base_url: str, presign: Presign | None = None) -> VideoPublic:
    """The public view of a video job row (db.models.Job); `presign` is Storage.presigned_url."""
    result = job.result or {}
    done = job.status == "succeeded"
    quality = QualityPublic.model_validate(result["quality"]) if done and result.get("quality") else None
    return VideoPublic(
        id=job.id, status=job.status, progress=round(job.progress or 0.0, 4), stage=job.stage,
        eta_s=eta_seconds(job.progress or 0.0, job.started_at) if job.status == "processing" else None,
        template_id=job.template_id, audio_id=job.audio_id, audio_url=job.audio_url, voice=job.voice,
        text=job.text, options=job_option_fields(job), batch_id=job.batch_id,
        metadata=job.metadata_, attempts=job.attempts, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, **result_urls(job, base_url, presign),
        duration_s=result.get("duration_s"), size_bytes=result.get("size_bytes"), width=result.get("width"),
        height=result.get("height"), quality=quality, needs_review=bool(quality and quality.needs_review),
        error_code=job.error_code, error_message=job.error_message, expired_at=job.expired_at)


def template_public(template: Any, base_url: str) -> TemplatePublic:
    facts = template.facts
    return TemplatePublic(
        id=template.id, name=template.name, status=template.status, source_url=template.source_url,
        size_bytes=template.size_bytes,
        thumbnail_url=f"{base_url}/v1/templates/{template.id}/thumbnail" if template.thumbnail_key else None,
        facts=TemplateFactsPublic(**{k: facts[k] for k in TemplateFactsPublic.model_fields}) if facts else None,
        error_code=template.error_code, error_message=template.error_message, created_at=template.created_at)


def voice_public(info: Any, base_url: str) -> VoicePublic:
    """The public view of a facecast.voice.VoiceInfo."""
    from urllib.parse import quote

    return VoicePublic(id=info.id, engine=info.engine, language=info.language, gender=info.gender, name=info.name,
                       preview_url=f"{base_url}/v1/voices/{quote(info.id, safe='')}/preview")


def audio_public(audio: Any) -> AudioPublic:
    return AudioPublic(id=audio.id, duration_s=audio.duration_s, size_bytes=audio.size_bytes,
                       filename=audio.filename, created_at=audio.created_at, expired_at=audio.expired_at)


def batch_public(batch: Any, jobs: list[Any], base_url: str, presign: Presign | None = None) -> BatchPublic:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    if sum(counts.get(active, 0) for active in ACTIVE):
        status = "processing" if counts.get("processing") or counts.get("succeeded") else "queued"
    elif counts.get("failed"):
        status = "failed"
    elif counts.get("canceled") and not counts.get("succeeded"):
        status = "canceled"
    else:
        status = "succeeded"
    progress = sum(1.0 if j.status in TERMINAL else (j.progress or 0.0)
                   for j in jobs) / max(len(jobs), 1)
    return BatchPublic(id=batch.id, status=status, progress=round(progress, 4), counts=counts,
                       audio_id=batch.audio_id, audio_url=batch.audio_url, voice=batch.voice,
                       metadata=batch.metadata_,
                       created_at=batch.created_at, videos=[video_public(j, base_url, presign) for j in jobs])
