"""The Batch tab: one speech onto several templates, one video each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..client import ENDED, ApiError
from ..views import error_html, job_error_text, message_html, progress_html
from .context import POLL_WAIT_S, TabActions, UiContext
from .inputs import SpeechInputs, output_body, output_inputs, speech_body, speech_inputs


@dataclass(frozen=True, slots=True)
class BatchTab:
    """The widgets the page loader and the Create tab update."""

    templates: gr.Dropdown
    speech: SpeechInputs


class BatchActions(TabActions):
    def run(self, template_ids: list[str] | None, mode: str, audio_path: str | None, text: str,
            voice_id: str | None, rate: float, max_height: int | None, crf: int | None,
            render_mode: str | None = None, intensity: float | None = None) -> Iterator[tuple[Any, Any, Any]]:
        """Submit the batch, show its progress, then every video that succeeded and why the others did not."""
        if not template_ids:
            yield error_html("Choose one or more templates first."), None, None
            return
        try:
            body = {"template_ids": list(template_ids),
                    **speech_body(self.ctx, mode, audio_path, text, voice_id, rate),
                    **output_body(self.ctx, max_height, crf, render_mode, intensity)}
            yield message_html("submitting…"), None, None
            batch = self.ctx.api.create_batch(body)
            while batch["status"] not in ENDED:
                yield progress_html(batch["progress"], batch["status"], note=_counts(batch)), None, None
                batch = self.ctx.api.get_batch(batch["id"], wait_s=POLL_WAIT_S)
            gallery, videos, problems = [], [], []
            for video in batch["videos"]:
                if video["status"] == "succeeded":
                    path = self.ctx.fetch(video["video_url"], f"{video['id']}.mp4")
                    videos.append(path)
                    gallery.append((self.ctx.thumbnail(video) or path, f"{video['template_id']} · {video['id']}"))
                else:
                    problems.append(f"{video['template_id']}: {job_error_text(video)}")
        except ApiError as exc:
            yield error_html(exc), None, None
            return
        notice = "".join(error_html(p) for p in problems)
        yield progress_html(1.0, batch["status"], note=_counts(batch)) + notice, gallery, videos


def build_batch_tab(ctx: UiContext) -> BatchTab:
    """Lay out the Batch tab and wire its run button."""
    with gr.Tab("Batch", id="batch"), gr.Row():
        with gr.Column():
            templates = gr.Dropdown(label="Templates", choices=[], multiselect=True, interactive=True,
                                    allow_custom_value=True, info="One video per template")
            speech = speech_inputs(ctx, text_lines=3, full=False)
            output = output_inputs(ctx)
            run = gr.Button("Run batch", variant="primary")
        with gr.Column():
            status = gr.HTML()
            gallery = gr.Gallery(label="Results", columns=3, height="auto", buttons=["download", "fullscreen"])
            files = gr.File(label="Videos", file_count="multiple", interactive=False)
    run.click(BatchActions(ctx).run, [templates, *speech.components(), *output.components()],
              [status, gallery, files], api_name="batch")
    return BatchTab(templates, speech)


def _counts(batch: dict[str, Any]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(batch["counts"].items()))
