"""The History tab: the signed-in key's video jobs, filtered by status, with play, retry, cancel and delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..client import ApiClient, ApiError
from ..views import VIDEO_COLUMN_WIDTHS, VIDEO_COLUMNS, error_html, message_html, video_row
from .context import Session, TableTab, TabActions, UiContext, row_value

ALL_STATUSES = "all"  # the filter choice that lists every job
# What a job's public view carries that makes the same job again (POST /v1/videos).
RETRY_FIELDS = ("template_id", "audio_id", "audio_url", "text", "voice", "metadata")


def retry_body(job: dict[str, Any]) -> dict[str, Any]:
    """The create body of a job with the same template, speech and options."""
    return {**{name: job[name] for name in RETRY_FIELDS if job.get(name) is not None}, **(job.get("options") or {})}


class JobsActions(TabActions):
    def rows(self, api: ApiClient, status_filter: str = ALL_STATUSES,
             names: dict[str, str] | None = None) -> list[list[Any]]:
        """The table rows, templates shown by name (`names`, else listed now); raises ApiError."""
        videos = api.list_videos(None if status_filter == ALL_STATUSES else status_filter)
        names = {t["id"]: t["name"] for t in api.list_templates()} if names is None else names
        return [video_row(v, names) for v in videos]

    def list_jobs(self, status_filter: str, request: gr.Request) -> tuple[Any, str]:
        try:
            return self.rows(self.ctx.session(request).api, status_filter), ""
        except ApiError as exc:
            return gr.update(), error_html(exc)

    def act(self, action: str) -> Callable[[str, str, gr.Request], tuple[Any, str]]:
        """A handler that retries, cancels or deletes the selected video, then lists the jobs again."""
        def handler(video_id: str, status_filter: str, request: gr.Request) -> tuple[Any, str]:
            video_id = (video_id or "").strip()
            if not video_id:
                return gr.update(), error_html("Click a video in the table first.")
            session = self.ctx.session(request)
            try:
                notice = message_html(self._apply(session, action, video_id), "ok")
            except ApiError as exc:
                return gr.update(), error_html(exc)
            table, problem = self.list_jobs(status_filter, request)
            return table, problem or notice
        return handler

    def _apply(self, session: Session, action: str, video_id: str) -> str:
        """Do `action` on the video through the API; what happened, in a few words."""
        if action == "retry":
            job = session.api.create_video(retry_body(session.api.get_video(video_id)))
            return f"{video_id} made again as {job['id']} ({job['status']})"
        if action == "cancel":
            return f"{video_id} is {session.api.cancel_video(video_id)['status']}"
        session.api.delete_video(video_id)
        (session.files / f"{video_id}.mp4").unlink(missing_ok=True)
        return f"{video_id} deleted"

    def play(self, video_id: str, request: gr.Request) -> tuple[Any, str]:
        video_id = (video_id or "").strip()
        if not video_id:
            return None, error_html("Click a video in the table first.")
        session = self.ctx.session(request)
        try:
            job = session.api.get_video(video_id)
            if job["status"] != "succeeded":
                return None, message_html(f"{video_id} is {job['status']}; it can be played once it succeeded")
            return session.fetch(job["video_url"], f"{video_id}.mp4"), ""
        except ApiError as exc:
            return None, error_html(exc)

    def pick(self, evt: gr.SelectData) -> str:
        return str(row_value(evt)[0])


def build_jobs_tab(ctx: UiContext) -> TableTab:
    """Lay out the History tab; its status filter lists the job statuses the API defines."""
    actions = JobsActions(ctx)
    with gr.Tab("History", id="jobs"):
        with gr.Row():
            status_filter = gr.Dropdown([ALL_STATUSES, *ctx.options.job_statuses], value=ALL_STATUSES,
                                        label="Status", scale=1)
            refresh = gr.Button("↻ Refresh", scale=0, min_width=110, elem_id="history-refresh")
        table = gr.Dataframe(headers=VIDEO_COLUMNS, interactive=False, wrap=True, max_height=420,
                             column_widths=VIDEO_COLUMN_WIDTHS)
        with gr.Row(equal_height=True):
            video_id = gr.Textbox(label="Selected video", placeholder="click a row", scale=2, min_width=200)
            play = gr.Button("Play", scale=0, min_width=80)
            retry = gr.Button("Retry", scale=0, min_width=80)
            cancel = gr.Button("Cancel", scale=0, min_width=80)
            delete = gr.Button("Delete", variant="stop", scale=0, min_width=80)
        message = gr.HTML()
        video = gr.Video(label="Video", interactive=False, height=320, buttons=["download"])
    refresh.click(actions.list_jobs, status_filter, [table, message], api_name="list_jobs")
    status_filter.change(actions.list_jobs, status_filter, [table, message], api_name=False)
    table.select(actions.pick, None, video_id, api_name=False)
    play.click(actions.play, video_id, [video, message], api_name=False)
    for name, button in (("retry", retry), ("cancel", cancel), ("delete", delete)):
        button.click(actions.act(name), [video_id, status_filter], [table, message], api_name=f"{name}_job")
    return TableTab(table, message)
