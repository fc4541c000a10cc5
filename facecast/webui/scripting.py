"""The Gradio API for scripts (`/gradio_api/...`, gradio_client): `/generate` and `/batch` take files, URLs or
ids and return the finished video(s), as HeyGem users script their Gradio app.

Each endpoint is a thin client of the HTTP API like the tabs: it uploads or names the inputs, creates the job
with the caller's key (the page's sign-in, or `Authorization: Bearer` sent by the script) and waits for it.
Problems are raised as gr.Error, which gradio_client turns into an exception carrying the same sentence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr

from .client import ENDED, ApiClient, ApiError
from .tabs.context import Session, UiContext
from .views import job_error_text

WAIT_S = 5  # each status call long-polls this long
TEMPLATE_POLL_S = 1.0  # face tracking of a new template is checked this often
URL_PREFIXES = ("http://", "https://")

GENERATE_DOC = """Lip-sync one video. Give the template as a file (template_file) or as a template id or an http(s)
URL (template); the speech as an audio file (audio_file), an audio URL (audio_url) or text spoken by voice
(an id from GET /v1/voices, empty for the server's default). options takes any VideoCreate fields of the HTTP API,
e.g. {"max_height": 720, "crf": 23}. Returns the MP4 and the video job as the HTTP API shows it."""
BATCH_DOC = """One speech onto several templates, one video each. templates_files and templates (ids or http(s)
URLs, one per line or comma-separated) are combined; the speech and options are as for /generate. Returns the
MP4s that succeeded and the batch as the HTTP API shows it, with why any video failed."""


def resolve_template(api: ApiClient, file: str | None, ref: str | None) -> str:
    """The id of a ready template: an uploaded file, a fetched URL, or an id as given."""
    ref = (ref or "").strip()
    if file:
        item = api.upload_template(Path(file))
    elif ref.startswith(URL_PREFIXES):
        item = api.template_from_url(ref)
    elif ref:
        return ref
    else:
        raise gr.Error("Give a template: a video or photo file, its http(s) URL, or a template id.")
    while item["status"] == "preparing":
        time.sleep(TEMPLATE_POLL_S)
        item = api.get_template(item["id"])
    if item["status"] != "ready":
        raise gr.Error(f"template {item['name']} could not be prepared: {item.get('error_message')} "
                       f"({item.get('error_code')})")
    return item["id"]


def speech_fields(api: ApiClient, audio_file: str | None, audio_url: str | None, text: str | None,
                  voice: str | None) -> dict[str, Any]:
    """The speech source of a create body; the API itself refuses more than one."""
    fields: dict[str, Any] = {}
    if audio_file:
        fields["audio_id"] = api.upload_audio(Path(audio_file))["id"]
    if (audio_url or "").strip():
        fields["audio_url"] = (audio_url or "").strip()
    if (text or "").strip():
        fields.update(text=text, **({"voice": voice.strip()} if (voice or "").strip() else {}))
    if not fields:
        raise gr.Error("Give the speech: an audio file, an audio URL, or text.")
    return fields


class ScriptActions:
    """The two endpoints' handlers; ApiError becomes gr.Error with the API's sentence and code."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def generate(self, request: gr.Request, template_file: str | None = None, template: str | None = None,
                 audio_file: str | None = None, audio_url: str | None = None, text: str | None = None,
                 voice: str | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        session = self.ctx.session(request)
        try:
            body = {"template_id": resolve_template(session.api, template_file, template),
                    **speech_fields(session.api, audio_file, audio_url, text, voice), **(options or {})}
            job = _wait(session, session.api.create_video(body), session.api.get_video)
            if job["status"] != "succeeded":
                raise gr.Error(f"video {job['id']} {job['status']}: {job_error_text(job)}")
            return session.fetch(job["video_url"], f"{job['id']}.mp4"), job
        except ApiError as exc:
            raise gr.Error(exc.message) from exc

    def batch(self, request: gr.Request, templates_files: list[str] | None = None, templates: str | None = None,
              audio_file: str | None = None, audio_url: str | None = None, text: str | None = None,
              voice: str | None = None, options: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any]]:
        session = self.ctx.session(request)
        refs = [r.strip() for r in (templates or "").replace("\n", ",").split(",") if r.strip()]
        try:
            ids = [resolve_template(session.api, f, None) for f in templates_files or []]
            ids += [resolve_template(session.api, None, r) for r in refs]
            if not ids:
                raise gr.Error("Give one or more templates: files, http(s) URLs or template ids.")
            body = {"template_ids": ids, **speech_fields(session.api, audio_file, audio_url, text, voice),
                    **(options or {})}
            batch = _wait(session, session.api.create_batch(body), session.api.get_batch)
            videos = [session.fetch(v["video_url"], f"{v['id']}.mp4")
                      for v in batch["videos"] if v["status"] == "succeeded"]
        except ApiError as exc:
            raise gr.Error(exc.message) from exc
        if not videos:
            raise gr.Error("; ".join(f"{v['template_id']}: {job_error_text(v)}" for v in batch["videos"]))
        return videos, batch


def _wait(session: Session, item: dict[str, Any], get: Any) -> dict[str, Any]:
    while item["status"] not in ENDED:
        item = get(item["id"], wait_s=WAIT_S)
    return item


def build_script_api(ctx: UiContext) -> None:
    """The hidden inputs and outputs of /generate and /batch, and the two endpoints."""
    actions = ScriptActions(ctx)
    with gr.Column(visible=False):
        template_file = gr.File(label="template_file", type="filepath")
        templates_files = gr.File(label="templates_files", type="filepath", file_count="multiple")
        template, template_refs = gr.Textbox(label="template"), gr.Textbox(label="templates")
        audio_file = gr.File(label="audio_file", type="filepath")
        texts = [gr.Textbox(label=name) for name in ("audio_url", "text", "voice")]
        options = gr.JSON(label="options")
        video, videos, job = (gr.File(label="video"), gr.File(label="videos", file_count="multiple"),
                              gr.JSON(label="job"))
        trigger = gr.Button("run")
    speech = [audio_file, *texts, options]
    trigger.click(actions.generate, [template_file, template, *speech], [video, job], api_name="generate",
                  api_description=GENERATE_DOC)
    trigger.click(actions.batch, [templates_files, template_refs, *speech], [videos, job], api_name="batch",
                  api_description=BATCH_DOC)
