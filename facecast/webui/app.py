"""The facecast web UI: a Gradio Blocks app that drives a facecast server through its HTTP API only.

`build_ui(api_base_url, api_key)` makes the Blocks; `mount_ui` adds it to the service's FastAPI app at /ui
with a local-only theme (no web fonts, no analytics, no share links), so `facecast serve` is one URL.
"""

from __future__ import annotations

import hmac
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this once

import gradio as gr  # noqa: E402

from .client import ENDED, ApiClient, ApiError  # noqa: E402
from .views import (  # noqa: E402
    TEMPLATE_COLUMNS, VIDEO_COLUMNS, error_html, job_error_text, message_html, progress_html, template_choices,
    template_facts_markdown, template_row, video_row)

POLL_WAIT_S = 1  # each poll long-polls this long, so a finished job shows at once and progress ticks each second
MAX_HEIGHTS = [("Template size", 0), ("1080p", 1080), ("720p", 720), ("480p", 480), ("360p", 360)]
QUALITIES = [("High (larger file)", 16), ("Standard", 20), ("Small file", 28)]
JOB_STATUSES = ["all", "queued", "processing", "succeeded", "failed", "canceled"]
SPEECH_AUDIO, SPEECH_TEXT = "Audio file or recording", "Text, spoken by a voice"
SUBTITLES = [("None", "none"), ("Burned into the picture", "burn"), ("Subtitle track", "soft")]
DEFAULT_VOICE = "espeak:en-us"

# Local fonts only: the default theme would load Google Fonts from the internet.
THEME = gr.themes.Default(font=[gr.themes.Font("system-ui"), "sans-serif"],
                          font_mono=[gr.themes.Font("ui-monospace"), "monospace"])
CSS = """
.fc-progress { margin: 4px 0; }
.fc-bar { height: 14px; border-radius: 7px; background: var(--neutral-200); overflow: hidden; }
.fc-fill { height: 100%; background: var(--color-accent); transition: width 0.4s; }
.fc-progress[data-status="failed"] .fc-fill, .fc-progress[data-status="canceled"] .fc-fill { background: #c0392b; }
.fc-progress[data-status="succeeded"] .fc-fill { background: #27ae60; }
.fc-caption { display: flex; justify-content: space-between; font-size: 0.9em; margin-top: 2px; }
.fc-msg { padding: 6px 10px; border-radius: 6px; }
.fc-error { background: #fdecea; color: #8a1c12; }
.fc-ok { background: #e9f7ef; color: #1d6b3a; }
.fc-info { background: var(--neutral-100); }
"""


def build_ui(api_base_url: str, api_key: str | None = None) -> gr.Blocks:
    """The UI for the facecast server at `api_base_url` (e.g. http://127.0.0.1:8000), authenticating with
    `api_key` when the server requires one."""
    api = ApiClient(api_base_url, api_key)
    files = Path(tempfile.mkdtemp(prefix="facecast-webui-"))  # downloaded results and thumbnails

    with gr.Blocks(title="facecast", analytics_enabled=False) as ui:
        gr.Markdown("## facecast\nLip-synced talking videos from a template and speech. "
                    f"Everything here calls the [HTTP API]({api_base_url.rstrip('/')}/docs).")
        voices_state = gr.State(None)

        with gr.Tab("Create", id="create"):
            with gr.Row():
                with gr.Column(scale=1):
                    template = gr.Dropdown(label="Template", choices=[], value=None, allow_custom_value=True,
                                           interactive=True, info="Ready templates from the library")
                    refresh_templates = gr.Button("↻ Refresh templates", size="sm")
                    preview = gr.Image(label="Preview", type="filepath", interactive=False, height=220,
                                       buttons=["fullscreen"])
                    template_info = gr.Markdown()
                    with gr.Accordion("Add a template (video or photo with one face)", open=False):
                        new_file = gr.File(label="Video or photo", file_types=["video", "image"], type="filepath")
                        new_name = gr.Textbox(label="Name", placeholder="e.g. presenter")
                        add_button = gr.Button("Add template")
                        add_status = gr.HTML()
                with gr.Column(scale=1):
                    speech_mode = gr.Radio([SPEECH_AUDIO, SPEECH_TEXT], value=SPEECH_AUDIO, label="Speech",
                                           visible=False)
                    audio = gr.Audio(label="Speech audio", sources=["upload", "microphone"], type="filepath",
                                     buttons=[])
                    with gr.Group(visible=False) as text_group:
                        text = gr.Textbox(label="Text", lines=4, placeholder="What the person says")
                        voice = gr.Dropdown(label="Voice", choices=[], allow_custom_value=True, interactive=True)
                        voice_preview = gr.Audio(label="Voice sample", type="filepath", interactive=False,
                                                 buttons=[])
                        rate = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Rate")
                        with gr.Accordion("Pitch, volume, subtitles", open=False):
                            pitch = gr.Slider(-12, 12, value=0, step=0.5, label="Pitch (semitones)")
                            volume = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Volume")
                            subtitles = gr.Radio(SUBTITLES, value="none", label="Subtitles",
                                                 info="SRT and WebVTT files are made in every case")
                    with gr.Row():
                        max_height = gr.Dropdown(MAX_HEIGHTS, value=0, label="Max height")
                        quality = gr.Dropdown(QUALITIES, value=20, label="Quality")
                    generate = gr.Button("Generate", variant="primary")
                    status = gr.HTML()
                    result = gr.Video(label="Result", interactive=False, buttons=["download"])
                    download = gr.File(label="Download", file_count="multiple", interactive=False)

        with gr.Tab("Batch", id="batch"):
            with gr.Row():
                with gr.Column():
                    batch_templates = gr.Dropdown(label="Templates", choices=[], multiselect=True, interactive=True,
                                                  allow_custom_value=True, info="One video per template")
                    batch_mode = gr.Radio([SPEECH_AUDIO, SPEECH_TEXT], value=SPEECH_AUDIO, label="Speech",
                                          visible=False)
                    batch_audio = gr.Audio(label="Speech audio", sources=["upload", "microphone"],
                                           type="filepath", buttons=[])
                    with gr.Group(visible=False) as batch_text_group:
                        batch_text = gr.Textbox(label="Text", lines=3)
                        batch_voice = gr.Dropdown(label="Voice", choices=[], allow_custom_value=True, interactive=True)
                        batch_rate = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Rate")
                    with gr.Row():
                        batch_height = gr.Dropdown(MAX_HEIGHTS, value=0, label="Max height")
                        batch_quality = gr.Dropdown(QUALITIES, value=20, label="Quality")
                    run_batch = gr.Button("Run batch", variant="primary")
                with gr.Column():
                    batch_status = gr.HTML()
                    batch_gallery = gr.Gallery(label="Results", columns=3, height="auto",
                                               buttons=["download", "fullscreen"])
                    batch_files = gr.File(label="Videos", file_count="multiple", interactive=False)

        with gr.Tab("Jobs", id="jobs"):
            with gr.Row():
                job_filter = gr.Dropdown(JOB_STATUSES, value="all", label="Status", scale=1)
                refresh_jobs = gr.Button("↻ Refresh", scale=0)
            jobs_table = gr.Dataframe(headers=VIDEO_COLUMNS, interactive=False, wrap=True)
            with gr.Row():
                job_id = gr.Textbox(label="Selected video", placeholder="click a row", scale=2)
                play_job = gr.Button("Play", scale=0)
                cancel_job = gr.Button("Cancel", scale=0)
                delete_job = gr.Button("Delete", variant="stop", scale=0)
            job_message = gr.HTML()
            job_video = gr.Video(label="Video", interactive=False, height=320, buttons=["download"])

        with gr.Tab("Templates", id="templates"):
            refresh_library = gr.Button("↻ Refresh", size="sm")
            templates_table = gr.Dataframe(headers=TEMPLATE_COLUMNS, interactive=False, wrap=True)
            with gr.Row():
                with gr.Column(scale=2):
                    library_id = gr.Textbox(label="Selected template", placeholder="click a row")
                    library_name = gr.Textbox(label="Name")
                    with gr.Row():
                        rename = gr.Button("Rename")
                        delete_template = gr.Button("Delete", variant="stop")
                    library_message = gr.HTML()
                    library_facts = gr.Markdown()
                with gr.Column(scale=1):
                    library_thumb = gr.Image(label="Thumbnail", type="filepath", interactive=False, height=220,
                                             buttons=["fullscreen"])

        # ---- handlers: each one calls the API and turns an ApiError into a message ----

        def thumbnail(item: dict[str, Any]) -> str | None:
            if not item.get("thumbnail_url"):
                return None
            target = files / f"{item['id']}.jpg"
            return str(target if target.exists() else api.download(_api_path(item["thumbnail_url"]), target))

        def load_page() -> tuple[Any, ...]:
            """Everything a fresh page shows: template choices, voices, both tables."""
            try:
                templates = api.list_templates()
                voices = api.list_voices()
                videos = api.list_videos()
            except ApiError as exc:
                notice = error_html(exc)
                return (gr.update(), gr.update(), None, gr.update(), gr.update(), gr.update(), gr.update(),
                        gr.update(), gr.update(), notice, notice)
            choices = template_choices(templates, ready_only=True)
            voice_choices = [(_voice_label(v), v["id"]) for v in voices or []]
            ids = [value for _, value in voice_choices]
            default_voice = DEFAULT_VOICE if DEFAULT_VOICE in ids else (ids[0] if ids else None)
            has_voices = bool(voices)
            names = {t["id"]: t["name"] for t in templates}
            return (gr.update(choices=choices, value=choices[0][1] if choices else None),
                    gr.update(choices=choices), voices,
                    gr.update(visible=has_voices), gr.update(visible=has_voices),
                    gr.update(choices=voice_choices, value=default_voice),
                    gr.update(choices=voice_choices, value=default_voice),
                    [template_row(t) for t in templates], [video_row(v, names) for v in videos], "", "")

        def refresh_template_choices(current: str | None) -> tuple[Any, Any]:
            try:
                choices = template_choices(api.list_templates(), ready_only=True)
            except ApiError as exc:
                gr.Warning(exc.message)
                return gr.update(), gr.update()
            ids = [value for _, value in choices]
            keep = current if current in ids else (ids[0] if ids else None)
            return gr.update(choices=choices, value=keep), gr.update(choices=choices)

        def show_template(template_id: str | None) -> tuple[str | None, str]:
            if not template_id:
                return None, ""
            try:
                item = api.get_template(template_id)
                return thumbnail(item), template_facts_markdown(item)
            except ApiError as exc:
                return None, f"⚠️ {exc.message}"

        def add_template(path: str | None, name: str) -> Iterator[tuple[Any, Any, Any]]:
            if not path:
                yield error_html("Choose a video or photo to upload first."), gr.update(), gr.update()
                return
            try:
                item = api.upload_template(Path(path), name.strip() or None)
                while item["status"] == "preparing":
                    yield message_html(f"{item['name']}: preparing (face tracking)…"), gr.update(), gr.update()
                    _sleep(1.0)
                    item = api.get_template(item["id"])
                choices = template_choices(api.list_templates(), ready_only=True)
            except ApiError as exc:
                yield error_html(exc), gr.update(), gr.update()
                return
            if item["status"] != "ready":
                yield error_html(f"{item['name']} could not be prepared: {item.get('error_message')} "
                                 f"({item.get('error_code')})"), gr.update(), gr.update()
                return
            yield (message_html(f"{item['name']} is ready", "ok"), gr.update(choices=choices, value=item["id"]),
                   gr.update(choices=choices))

        def speech_fields(mode: str, audio_path: str | None, text_value: str, voice_id: str | None,
                          rate_value: float, pitch_value: float = 0.0, volume_value: float = 1.0,
                          subtitles_mode: str = "none") -> dict[str, Any]:
            """The speech part of a video or batch body; uploads the audio first."""
            if mode == SPEECH_TEXT:
                if not (text_value or "").strip():
                    raise ApiError(0, "empty_text", "Type the text to speak first.")
                if api.list_voices() is None:
                    raise ApiError(0, "no_voice_api", "This server does not speak text; upload an audio instead.")
                extras = {"pitch": pitch_value if pitch_value else None,
                          "volume": volume_value if volume_value != 1.0 else None,
                          "subtitles": subtitles_mode if subtitles_mode and subtitles_mode != "none" else None}
                return {"text": text_value, **({"voice": voice_id} if voice_id else {}), "rate": rate_value,
                        **{k: v for k, v in extras.items() if v is not None}}
            if not audio_path:
                raise ApiError(0, "no_audio", "Upload or record the speech first.")
            return {"audio_id": api.upload_audio(Path(audio_path))["id"]}

        def run_generate(template_id: str | None, mode: str, audio_path: str | None, text_value: str,
                         voice_id: str | None, rate_value: float, pitch_value: float, volume_value: float,
                         subtitles_mode: str, height: int | None,
                         crf: int | None) -> Iterator[tuple[Any, Any, Any]]:
            if not template_id:
                yield error_html("Choose a template first (or add one)."), None, None
                return
            try:
                speech = speech_fields(mode, audio_path, text_value, voice_id, rate_value, pitch_value,
                                       volume_value, subtitles_mode)
                body = {"template_id": template_id, **speech, **_output_options(height, crf)}
                yield message_html("submitting…"), None, None
                job = api.create_video(body)
                while job["status"] not in ENDED:
                    yield progress_html(job["progress"], job["status"], job.get("stage"), job.get("eta_s"),
                                        note=job["id"]), None, None
                    job = api.get_video(job["id"], wait_s=POLL_WAIT_S)
                if job["status"] != "succeeded":
                    yield (progress_html(job["progress"], job["status"]) + error_html(job_error_text(job)),
                           None, None)
                    return
                path = str(api.download(_api_path(job["video_url"]), files / f"{job['id']}.mp4"))
                downloads = [path] + [str(api.download(_api_path(job[key]), files / f"{job['id']}.{ext}"))
                                      for key, ext in (("subtitles_srt_url", "srt"), ("subtitles_vtt_url", "vtt"))
                                      if job.get(key)]
            except ApiError as exc:
                yield error_html(exc), None, None
                return
            done = f"{job['id']}, {job.get('duration_s') or 0:.1f} s, {job.get('width')}×{job.get('height')}"
            yield progress_html(1.0, "succeeded", note=done), path, downloads

        def run_batch_job(template_ids: list[str] | None, mode: str, audio_path: str | None, text_value: str,
                          voice_id: str | None, rate_value: float, height: int | None,
                          crf: int | None) -> Iterator[tuple[Any, Any, Any]]:
            if not template_ids:
                yield error_html("Choose one or more templates first."), None, None
                return
            try:
                body = {"template_ids": list(template_ids), **speech_fields(mode, audio_path, text_value,
                                                                            voice_id, rate_value),
                        **_output_options(height, crf)}
                yield message_html("submitting…"), None, None
                batch = api.create_batch(body)
                while batch["status"] not in ENDED:
                    counts = ", ".join(f"{n} {s}" for s, n in sorted(batch["counts"].items()))
                    yield progress_html(batch["progress"], batch["status"], note=counts), None, None
                    batch = api.get_batch(batch["id"], wait_s=POLL_WAIT_S)
                gallery, videos, problems = [], [], []
                for video in batch["videos"]:
                    if video["status"] == "succeeded":
                        path = str(api.download(_api_path(video["video_url"]), files / f"{video['id']}.mp4"))
                        videos.append(path)
                        gallery.append((thumbnail(video) or path, f"{video['template_id']} · {video['id']}"))
                    else:
                        problems.append(f"{video['template_id']}: {job_error_text(video)}")
            except ApiError as exc:
                yield error_html(exc), None, None
                return
            counts = ", ".join(f"{n} {s}" for s, n in sorted(batch["counts"].items()))
            notice = "".join(error_html(p) for p in problems)
            yield progress_html(1.0, batch["status"], note=counts) + notice, gallery, videos

        def list_jobs(status_filter: str) -> tuple[Any, str]:
            try:
                videos = api.list_videos(None if status_filter == "all" else status_filter)
                names = {t["id"]: t["name"] for t in api.list_templates()}
            except ApiError as exc:
                return gr.update(), error_html(exc)
            return [video_row(v, names) for v in videos], ""

        def act_on_job(action: str) -> Callable[[str, str], tuple[Any, str]]:
            def handler(video_id: str, status_filter: str) -> tuple[Any, str]:
                video_id = (video_id or "").strip()
                if not video_id:
                    return gr.update(), error_html("Click a video in the table first.")
                try:
                    if action == "cancel":
                        job = api.cancel_video(video_id)
                        notice = message_html(f"{video_id} is {job['status']}", "ok")
                    else:
                        api.delete_video(video_id)
                        (files / f"{video_id}.mp4").unlink(missing_ok=True)
                        notice = message_html(f"{video_id} deleted", "ok")
                except ApiError as exc:
                    return gr.update(), error_html(exc)
                table, problem = list_jobs(status_filter)
                return table, problem or notice
            return handler

        def play(video_id: str) -> tuple[Any, str]:
            video_id = (video_id or "").strip()
            if not video_id:
                return None, error_html("Click a video in the table first.")
            try:
                job = api.get_video(video_id)
                if job["status"] != "succeeded":
                    return None, message_html(f"{video_id} is {job['status']}; it can be played once it succeeded")
                target = files / f"{video_id}.mp4"
                return str(target if target.exists() else api.download(_api_path(job["video_url"]), target)), ""
            except ApiError as exc:
                return None, error_html(exc)

        def pick_job(evt: gr.SelectData) -> str:
            return str(_row_value(evt)[0])

        def list_library() -> tuple[Any, str]:
            try:
                return [template_row(t) for t in api.list_templates()], ""
            except ApiError as exc:
                return gr.update(), error_html(exc)

        def pick_template(evt: gr.SelectData) -> tuple[str, str, str | None, str]:
            row = _row_value(evt)
            template_id = str(row[-1])
            image, facts = show_template(template_id)
            return template_id, str(row[0]), image, facts

        def rename_selected(template_id: str, name: str) -> tuple[Any, str]:
            try:
                item = api.rename_template(template_id.strip(), name.strip())
            except ApiError as exc:
                return gr.update(), error_html(exc)
            table, problem = list_library()
            return table, problem or message_html(f"renamed to {item['name']}", "ok")

        def delete_selected(template_id: str) -> tuple[Any, str, str]:
            try:
                api.delete_template(template_id.strip())
            except ApiError as exc:
                return gr.update(), error_html(exc), template_id
            table, problem = list_library()
            return table, problem or message_html(f"{template_id} deleted", "ok"), ""

        def sample_voice(voice_id: str | None, voices: list[dict[str, Any]] | None) -> str | None:
            """The voice's short preview WAV, when the server offers one."""
            url = next((v.get("preview_url") for v in voices or [] if v["id"] == voice_id), None)
            if not url:
                return None
            target = files / f"voice-{re.sub(r'[^A-Za-z0-9._-]', '_', str(voice_id))}.wav"
            try:
                return str(target if target.exists() else api.download(_api_path(url), target))
            except ApiError:
                return None

        def toggle_speech(mode: str) -> tuple[Any, Any]:
            return gr.update(visible=mode == SPEECH_AUDIO), gr.update(visible=mode == SPEECH_TEXT)

        # ---- wiring ----
        ui.load(load_page, None, [template, batch_templates, voices_state, speech_mode, batch_mode, voice,
                                  batch_voice, templates_table, jobs_table, job_message, library_message],
                api_name=False)
        refresh_templates.click(refresh_template_choices, template, [template, batch_templates], api_name=False)
        template.change(show_template, template, [preview, template_info], api_name=False)
        add_button.click(add_template, [new_file, new_name], [add_status, template, batch_templates],
                         api_name="add_template")
        speech_mode.change(toggle_speech, speech_mode, [audio, text_group], api_name=False)
        batch_mode.change(toggle_speech, batch_mode, [batch_audio, batch_text_group], api_name=False)
        generate.click(run_generate, [template, speech_mode, audio, text, voice, rate, pitch, volume, subtitles,
                                      max_height, quality], [status, result, download], api_name="generate")
        voice.change(sample_voice, [voice, voices_state], voice_preview, api_name=False)
        run_batch.click(run_batch_job, [batch_templates, batch_mode, batch_audio, batch_text, batch_voice,
                                        batch_rate, batch_height, batch_quality],
                        [batch_status, batch_gallery, batch_files], api_name="batch")
        refresh_jobs.click(list_jobs, job_filter, [jobs_table, job_message], api_name="list_jobs")
        job_filter.change(list_jobs, job_filter, [jobs_table, job_message], api_name=False)
        jobs_table.select(pick_job, None, job_id, api_name=False)
        play_job.click(play, job_id, [job_video, job_message], api_name=False)
        cancel_job.click(act_on_job("cancel"), [job_id, job_filter], [jobs_table, job_message],
                         api_name="cancel_job")
        delete_job.click(act_on_job("delete"), [job_id, job_filter], [jobs_table, job_message],
                         api_name="delete_job")
        refresh_library.click(list_library, None, [templates_table, library_message], api_name="list_templates")
        templates_table.select(pick_template, None, [library_id, library_name, library_thumb, library_facts],
                               api_name=False)
        rename.click(rename_selected, [library_id, library_name], [templates_table, library_message],
                     api_name="rename_template")
        delete_template.click(delete_selected, library_id, [templates_table, library_message, library_id],
                              api_name="delete_template")
    return ui


LOGIN_USER = "facecast"
LOGIN_MESSAGE = f"User name: {LOGIN_USER} (or leave it empty). Password: an API key of this server."


def login_check(keys: list[str], user: str = LOGIN_USER) -> Callable[[str, str], bool]:
    """Gradio's login callback: the user name is `user` or empty and the password one of `keys`, every key
    compared in constant time so the answer's timing says nothing about how much of a key was right."""
    encoded = [key.encode() for key in keys]

    def check(username: str, password: str) -> bool:
        found = False
        for key in encoded:
            found |= hmac.compare_digest(password.encode("utf-8", "replace"), key)
        return found and username.strip() in ("", user)

    return check


def mount_ui(app: Any, api_base_url: str, api_key: str | None = None, path: str = "/ui",
             login_keys: list[str] | None = None) -> Any:
    """Mount the UI on a FastAPI app at `path`. With `login_keys` the page asks for a login whose password
    is one of them (the API keys), since the UI itself calls the API with `api_key`."""
    auth = login_check(login_keys) if login_keys else None
    return gr.mount_gradio_app(app, build_ui(api_base_url, api_key), path=path, theme=THEME, css=CSS,
                               footer_links=["api"], auth=auth, auth_message=LOGIN_MESSAGE, ssr_mode=False,
                               pwa=False, mcp_server=False,
                               enable_monitoring=False, show_error=True)


def _output_options(height: int | None, crf: int | None) -> dict[str, int]:
    return {**({"max_height": int(height)} if height else {}), **({"crf": int(crf)} if crf is not None else {})}


def _api_path(url: str) -> str:
    """The path of an API URL: results are fetched from the configured base URL, which may differ from the
    public one the API writes into its answers (a proxy in front, 0.0.0.0 binds)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path[parts.path.find("/v1/"):] if "/v1/" in parts.path else parts.path
    return path + (f"?{parts.query}" if parts.query else "")


def _voice_label(voice: dict[str, Any]) -> str:
    name = str(voice.get("name") or voice["id"])
    extras = [x for x in (voice.get("language"), voice.get("gender")) if x]
    return f"{name} ({', '.join(extras)})" if extras else name


def _row_value(evt: Any) -> list[Any]:
    return list(evt.row_value)


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)
