"""The Batch tab: one speech onto several templates picked from a gallery, one video each, with each video's
progress, the results in a gallery and all of them in one ZIP."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..client import ENDED, ApiError
from ..views import error_html, job_error_text, message_html, progress_html
from .context import POLL_WAIT_S, Session, TabActions, UiContext
from .inputs import SpeechInputs, output_body, output_inputs, speech_body, speech_inputs


@dataclass(frozen=True, slots=True)
class BatchTab:
    """The widgets the page loader and the Create tab update."""

    templates: gr.Dropdown
    picker: gr.Gallery
    picker_ids: gr.State
    speech: SpeechInputs

    def picker_outputs(self) -> list[Any]:
        return [self.picker, self.templates, self.picker_ids]


def picker_values(session: Session, templates: list[dict[str, Any]]) -> tuple[list[Any], Any, list[str]]:
    """The gallery of ready templates (thumbnail and name), the picker's choices and the ids in gallery order."""
    ready = [t for t in templates if t["status"] == "ready" and t.get("thumbnail_url")]
    gallery = [(session.thumbnail(t), t["name"]) for t in ready]
    choices = [(t["name"], t["id"]) for t in templates if t["status"] == "ready"]  # short: they become chips
    return gallery, gr.update(choices=choices), [t["id"] for t in ready]


class BatchActions(TabActions):
    def refresh(self, request: gr.Request) -> tuple[list[Any], Any, list[str]]:
        session = self.ctx.session(request)
        try:
            return picker_values(session, session.api.list_templates())
        except ApiError as exc:
            gr.Warning(exc.message)
            return gr.update(), gr.update(), gr.update()

    def toggle(self, chosen: list[str] | None, ids: list[str] | None, evt: gr.SelectData) -> list[str]:
        """A click on a gallery template adds it to the batch, or takes it out again."""
        chosen = list(chosen or [])
        if ids and 0 <= evt.index < len(ids):
            template_id = ids[evt.index]
            chosen = [c for c in chosen if c != template_id] if template_id in chosen else [*chosen, template_id]
        return chosen

    def run(self, request: gr.Request, template_ids: list[str] | None, mode: str, audio_path: str | None,
            text: str, voice_id: str | None, rate: float, max_height: int | None, crf: int | None,
            render_mode: str | None = None, intensity: float | None = None) -> Iterator[tuple[Any, Any, Any]]:
        """Submit the batch with the caller's key, show each video's progress, then every video that succeeded,
        all of them in one ZIP, and why the others did not."""
        if not template_ids:
            yield error_html("Choose one or more templates first."), None, None
            return
        session = self.ctx.session(request)
        try:
            body = {"template_ids": list(template_ids),
                    **speech_body(self.ctx, session.api, mode, audio_path, text, voice_id, rate),
                    **output_body(self.ctx, max_height, crf, render_mode, intensity)}
            yield message_html("submitting…"), None, None
            batch = session.api.create_batch(body)
            names = session.template_names()
            while batch["status"] not in ENDED:
                yield _batch_progress(batch, names), None, None
                batch = session.api.get_batch(batch["id"], wait_s=POLL_WAIT_S)
            gallery, zipped = _results(session, batch, names)
        except ApiError as exc:
            yield error_html(exc), None, None
            return
        yield _batch_progress(batch, names), gallery, zipped


def _results(session: Session, batch: dict[str, Any], names: dict[str, str]) -> tuple[list[Any], str | None]:
    """The succeeded videos as gallery items, and a ZIP of them named after their templates."""
    gallery, members = [], []
    for video in batch["videos"]:
        if video["status"] == "succeeded":
            path = session.fetch(video["video_url"], f"{video['id']}.mp4")
            name = names.get(video["template_id"], video["template_id"])
            gallery.append((path, f"{name} · {video['id']}"))
            members.append((Path(path), f"{_safe(name)}-{video['id']}.mp4"))
    if not members:
        return gallery, None
    target = session.files / f"{batch['id']}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:  # MP4s do not compress
        for path, arcname in members:
            archive.write(path, arcname)
    return gallery, str(target)


def _batch_progress(batch: dict[str, Any], names: dict[str, str]) -> str:
    """The batch's bar, then one bar per video with its template's name and, if it failed, why."""
    rows = [progress_html(batch["progress"], batch["status"], note=_counts(batch))]
    for video in batch["videos"]:
        name = names.get(video["template_id"], video["template_id"])
        rows.append(progress_html(video["progress"], video["status"], video.get("stage"), video.get("eta_s"),
                                  note=name))
        if video["status"] in ("failed", "canceled"):
            rows.append(error_html(f"{name}: {job_error_text(video)}"))
    return '<div class="fc-batch">' + "".join(rows) + "</div>"


def build_batch_tab(ctx: UiContext) -> BatchTab:
    """Lay out the Batch tab and wire its picker and run button."""
    actions = BatchActions(ctx)
    with gr.Tab("Batch", id="batch"), gr.Row():
        with gr.Column():
            picker = gr.Gallery(label="Templates: click to add or remove", columns=4, height=260,
                                allow_preview=False, object_fit="cover", buttons=[], elem_id="batch-picker")
            picker_ids = gr.State([])
            templates = gr.Dropdown(label="In this batch", choices=[], multiselect=True, interactive=True,
                                    allow_custom_value=True, info="One video per template", elem_id="batch-templates")
            refresh = gr.Button("↻ Refresh templates", size="sm", elem_id="batch-refresh")
            speech = speech_inputs(ctx, text_lines=3, full=False, prefix="batch")
            output = output_inputs(ctx)
            run = gr.Button("Run batch", variant="primary", elem_id="batch-run")
        with gr.Column():
            status = gr.HTML(elem_id="batch-status")
            gallery = gr.Gallery(label="Results", columns=3, height="auto", buttons=["download", "fullscreen"])
            zipped = gr.File(label="Download all (ZIP)", interactive=False, height=120, elem_id="batch-zip")
    tab = BatchTab(templates, picker, picker_ids, speech)
    refresh.click(actions.refresh, None, tab.picker_outputs(), api_name=False)
    picker.select(actions.toggle, [templates, picker_ids], templates, api_name=False)
    run.click(actions.run, [templates, *speech.components(), *output.components()], [status, gallery, zipped],
              api_name="ui_batch", api_visibility="undocumented")
    return tab


def _counts(batch: dict[str, Any]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(batch["counts"].items()))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "video"
