"""The Create tab: pick or add a template, give the speech, generate one video and watch its progress."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..client import ENDED, ApiError
from ..views import error_html, job_error_text, message_html, progress_html, quality_text, template_choices
from .context import POLL_WAIT_S, TabActions, UiContext
from .inputs import OutputInputs, SpeechInputs, output_body, output_inputs, speech_body, speech_inputs
from .templates import upload_and_follow


@dataclass(frozen=True, slots=True)
class CreateTab:
    """The widgets other tabs or the page loader update."""

    template: gr.Dropdown
    refresh_templates: gr.Button
    add_file: gr.File
    add_name: gr.Textbox
    add_button: gr.Button
    add_status: gr.HTML
    speech: SpeechInputs
    output: OutputInputs


class CreateActions(TabActions):
    """The tab's handlers: each calls the API and turns an ApiError into a message."""

    def refresh_choices(self, current: str | None, request: gr.Request) -> tuple[Any, Any]:
        """Ready templates for both pickers, keeping the current choice when it is still there."""
        try:
            choices = template_choices(self.ctx.session(request).api.list_templates(), ready_only=True)
        except ApiError as exc:
            gr.Warning(exc.message)
            return gr.update(), gr.update()
        ids = [value for _, value in choices]
        keep = current if current in ids else (ids[0] if ids else None)
        return gr.update(choices=choices, value=keep), gr.update(choices=choices)

    def add_template(self, path: str | None, name: str, request: gr.Request) -> Iterator[tuple[Any, Any, Any]]:
        """Upload a template and follow its face tracking; once ready it is picked on the Create tab."""
        api = self.ctx.session(request).api
        for notice, item in upload_and_follow(api, path, name):
            if item is None:
                yield notice, gr.update(), gr.update()
                continue
            try:
                choices = template_choices(api.list_templates(), ready_only=True)
            except ApiError as exc:
                yield error_html(exc), gr.update(), gr.update()
                return
            yield notice, gr.update(choices=choices, value=item["id"]), gr.update(choices=choices)

    def generate(self, request: gr.Request, template_id: str | None, mode: str, audio_path: str | None,
                 text: str, voice_id: str | None, rate: float, pitch: float, volume: float, subtitles: str,
                 max_height: int | None, crf: int | None, render_mode: str | None = None,
                 intensity: float | None = None) -> Iterator[tuple[Any, Any, Any]]:
        """Submit one video with the caller's key, show its progress, then the result and its files."""
        if not template_id:
            yield error_html("Choose a template first (or add one)."), None, None
            return
        session = self.ctx.session(request)
        try:
            body = {"template_id": template_id,
                    **speech_body(self.ctx, session.api, mode, audio_path, text, voice_id, rate, pitch, volume,
                                  subtitles),
                    **output_body(self.ctx, max_height, crf, render_mode, intensity)}
            yield message_html("submitting…"), None, None
            job = session.api.create_video(body)
            while job["status"] not in ENDED:
                yield progress_html(job["progress"], job["status"], job.get("stage"), job.get("eta_s"),
                                    note=job["id"]), None, None
                job = session.api.get_video(job["id"], wait_s=POLL_WAIT_S)
            if job["status"] != "succeeded":
                yield progress_html(job["progress"], job["status"]) + error_html(job_error_text(job)), None, None
                return
            downloads = [session.fetch(job[key], f"{job['id']}.{ext}")
                         for key, ext in (("video_url", "mp4"), ("subtitles_srt_url", "srt"),
                                          ("subtitles_vtt_url", "vtt")) if job.get(key)]
        except ApiError as exc:
            yield error_html(exc), None, None
            return
        done = f"{job['id']}, {job.get('duration_s') or 0:.1f} s, {job.get('width')}×{job.get('height')}"
        if job.get("quality"):
            done += f", lip-sync {quality_text(job)}"
        yield progress_html(1.0, "succeeded", note=done), downloads[0], downloads

    def sample_voice(self, voice_id: str | None, voices: list[dict[str, Any]] | None,
                     request: gr.Request) -> str | None:
        """The voice's short preview WAV, when the server offers one."""
        url = next((v.get("preview_url") for v in voices or [] if v["id"] == voice_id), None)
        if not url:
            return None
        try:
            return self.ctx.session(request).fetch(url, f"voice-{voice_id}.wav")
        except ApiError:
            return None


    def preview(self, template_id: str | None, request: gr.Request) -> tuple[str | None, str]:
        return self.ctx.session(request).template_preview(template_id)


def build_create_tab(ctx: UiContext, voices_state: gr.State) -> CreateTab:
    """Lay out the Create tab and wire the events that stay inside it."""
    actions = CreateActions(ctx)
    with gr.Tab("Create", id="create"), gr.Row():
        with gr.Column(scale=1):
            template = gr.Dropdown(label="Template", choices=[], value=None, allow_custom_value=True,
                                   interactive=True, info="Ready templates from the library")
            refresh_templates = gr.Button("↻ Refresh templates", size="sm")
            preview = gr.Image(label="Preview", type="filepath", interactive=False, height=220,
                               buttons=["fullscreen"])
            template_info = gr.Markdown()
            with gr.Accordion("Add a template", open=False, elem_id="create-add-accordion"):
                add_file = gr.File(label="Video or photo with one face", file_types=["video", "image"], type="filepath",
                                   elem_id="create-add-file")
                add_name = gr.Textbox(label="Name", placeholder="e.g. presenter")
                add_button = gr.Button("Add template", elem_id="create-add")
                add_status = gr.HTML(elem_id="create-add-status")
        with gr.Column(scale=1):
            speech = speech_inputs(ctx, text_lines=4, full=True, prefix="create")
            output = output_inputs(ctx)
            generate = gr.Button("Generate", variant="primary", elem_id="create-generate")
            status = gr.HTML(elem_id="create-status")
            result = gr.Video(label="Result", interactive=False, buttons=["download"], elem_id="create-result")
            download = gr.File(label="Download", file_count="multiple", interactive=False,
                               elem_id="create-download")
    template.change(actions.preview, template, [preview, template_info], api_name=False)
    if speech.sample is not None:
        speech.voice.change(actions.sample_voice, [speech.voice, voices_state], speech.sample, api_name=False)
    generate.click(actions.generate, [template, *speech.components(), *output.components()],
                   [status, result, download], api_name="ui_generate", api_visibility="undocumented")
    return CreateTab(template, refresh_templates, add_file, add_name, add_button, add_status, speech, output)

