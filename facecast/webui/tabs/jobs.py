"""The Jobs tab: every video job, filtered by status, with play, cancel and delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..client import ApiError
from ..views import VIDEO_COLUMNS, error_html, message_html, video_row
from .context import TableTab, TabActions, UiContext, row_value

ALL_STATUSES = "all"  # the filter choice that lists every job


class JobsActions(TabActions):
    def rows(self, status_filter: str = ALL_STATUSES, names: dict[str, str] | None = None) -> list[list[Any]]:
        """The table rows, templates shown by name (`names`, else listed now); raises ApiError."""
        videos = self.ctx.api.list_videos(None if status_filter == ALL_STATUSES else status_filter)
        names = self.ctx.template_names() if names is None else names
        return [video_row(v, names) for v in videos]

    def list_jobs(self, status_filter: str) -> tuple[Any, str]:
        try:
            return self.rows(status_filter), ""
        except ApiError as exc:
            return gr.update(), error_html(exc)

    def act(self, action: str) -> Callable[[str, str], tuple[Any, str]]:
        """A handler that cancels or deletes the selected video, then lists the jobs again."""
        def handler(video_id: str, status_filter: str) -> tuple[Any, str]:
            video_id = (video_id or "").strip()
            if not video_id:
                return gr.update(), error_html("Click a video in the table first.")
            try:
                if action == "cancel":
                    job = self.ctx.api.cancel_video(video_id)
                    notice = message_html(f"{video_id} is {job['status']}", "ok")
                else:
                    self.ctx.api.delete_video(video_id)
                    (self.ctx.files / f"{video_id}.mp4").unlink(missing_ok=True)
                    notice = message_html(f"{video_id} deleted", "ok")
            except ApiError as exc:
                return gr.update(), error_html(exc)
            table, problem = self.list_jobs(status_filter)
            return table, problem or notice
        return handler

    def play(self, video_id: str) -> tuple[Any, str]:
        video_id = (video_id or "").strip()
        if not video_id:
            return None, error_html("Click a video in the table first.")
        try:
            job = self.ctx.api.get_video(video_id)
            if job["status"] != "succeeded":
                return None, message_html(f"{video_id} is {job['status']}; it can be played once it succeeded")
            return self.ctx.fetch(job["video_url"], f"{video_id}.mp4"), ""
        except ApiError as exc:
            return None, error_html(exc)

    def pick(self, evt: gr.SelectData) -> str:
        return str(row_value(evt)[0])


def build_jobs_tab(ctx: UiContext) -> TableTab:
    """Lay out the Jobs tab; its status filter lists the job statuses the API defines."""
    actions = JobsActions(ctx)
    with gr.Tab("Jobs", id="jobs"):
        with gr.Row():
            status_filter = gr.Dropdown([ALL_STATUSES, *ctx.options.job_statuses], value=ALL_STATUSES,
                                        label="Status", scale=1)
            refresh = gr.Button("↻ Refresh", scale=0)
        table = gr.Dataframe(headers=VIDEO_COLUMNS, interactive=False, wrap=True)
        with gr.Row():
            video_id = gr.Textbox(label="Selected video", placeholder="click a row", scale=2)
            play = gr.Button("Play", scale=0)
            cancel = gr.Button("Cancel", scale=0)
            delete = gr.Button("Delete", variant="stop", scale=0)
        message = gr.HTML()
        video = gr.Video(label="Video", interactive=False, height=320, buttons=["download"])
    refresh.click(actions.list_jobs, status_filter, [table, message], api_name="list_jobs")
    status_filter.change(actions.list_jobs, status_filter, [table, message], api_name=False)
    table.select(actions.pick, None, video_id, api_name=False)
    play.click(actions.play, video_id, [video, message], api_name=False)
    cancel.click(actions.act("cancel"), [video_id, status_filter], [table, message], api_name="cancel_job")
    delete.click(actions.act("delete"), [video_id, status_filter], [table, message], api_name="delete_job")
    return TableTab(table, message)
