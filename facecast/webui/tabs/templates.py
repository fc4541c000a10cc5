"""The Templates tab: upload, the library with each template's status, thumbnail and facts, rename and delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from ..client import ApiClient, ApiError
from ..views import TEMPLATE_COLUMNS, error_html, message_html, template_row
from .context import TableTab, TabActions, UiContext, row_value

PREPARE_POLL_S = 1.0  # how often an added template is checked while face tracking runs


def upload_and_follow(api: ApiClient, path: str | None, name: str) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Upload a template, then yield a notice while face tracking runs and, last, the ready template (or a
    notice saying why it is not ready, and None)."""
    if not path:
        yield error_html("Choose a video or photo to upload first."), None
        return
    try:
        item = api.upload_template(Path(path), (name or "").strip() or None)
        while item["status"] == "preparing":
            yield message_html(f"{item['name']}: preparing (face tracking)…"), None
            time.sleep(PREPARE_POLL_S)
            item = api.get_template(item["id"])
    except ApiError as exc:
        yield error_html(exc), None
        return
    if item["status"] != "ready":
        yield error_html(f"{item['name']} could not be prepared: {item.get('error_message')} "
                         f"({item.get('error_code')})"), None
        return
    yield message_html(f"{item['name']} is ready", "ok"), item


class TemplatesActions(TabActions):
    def list_library(self, request: gr.Request) -> tuple[Any, str]:
        try:
            return [template_row(t) for t in self.ctx.session(request).api.list_templates()], ""
        except ApiError as exc:
            return gr.update(), error_html(exc)

    def upload(self, path: str | None, name: str, request: gr.Request) -> Iterator[tuple[Any, str]]:
        """Upload from this tab: the notice follows the preparation, then the table lists the template."""
        notice = ""
        for notice, item in upload_and_follow(self.ctx.session(request).api, path, name):
            yield gr.update(), notice
        table, problem = self.list_library(request)
        yield table, problem or notice

    def pick(self, evt: gr.SelectData, request: gr.Request) -> tuple[str, str, str | None, str]:
        row = row_value(evt)
        template_id = str(row[-1])
        image, facts = self.ctx.session(request).template_preview(template_id)
        return template_id, str(row[0]), image, facts

    def rename(self, template_id: str, name: str, request: gr.Request) -> tuple[Any, str]:
        try:
            item = self.ctx.session(request).api.rename_template(template_id.strip(), name.strip())
        except ApiError as exc:
            return gr.update(), error_html(exc)
        table, problem = self.list_library(request)
        return table, problem or message_html(f"renamed to {item['name']}", "ok")

    def delete(self, template_id: str, request: gr.Request) -> tuple[Any, str, str]:
        try:
            self.ctx.session(request).api.delete_template(template_id.strip())
        except ApiError as exc:
            return gr.update(), error_html(exc), template_id
        table, problem = self.list_library(request)
        return table, problem or message_html(f"{template_id} deleted", "ok"), ""


def build_templates_tab(ctx: UiContext) -> TableTab:
    """Lay out the Templates tab and wire its upload, table and buttons."""
    actions = TemplatesActions(ctx)
    with gr.Tab("Templates", id="templates"):
        with gr.Accordion("Upload a template", open=False):
            with gr.Row(equal_height=True):
                upload_file = gr.File(label="Video or photo with one face", file_types=["video", "image"], type="filepath",
                                      scale=2, min_width=200)
                with gr.Column(scale=1, min_width=200):
                    upload_name = gr.Textbox(label="Name", placeholder="e.g. presenter")
                    upload = gr.Button("Upload")
        refresh = gr.Button("↻ Refresh", size="sm")
        table = gr.Dataframe(headers=TEMPLATE_COLUMNS, interactive=False, wrap=True, max_height=360)
        message = gr.HTML()
        with gr.Row():
            with gr.Column(scale=2, min_width=240):
                template_id = gr.Textbox(label="Selected template", placeholder="click a row")
                name = gr.Textbox(label="Name")
                with gr.Row():
                    rename = gr.Button("Rename", min_width=100)
                    delete = gr.Button("Delete", variant="stop", min_width=100)
                facts = gr.Markdown()
            with gr.Column(scale=1, min_width=200):
                thumbnail = gr.Image(label="Thumbnail", type="filepath", interactive=False, height=220,
                                     buttons=["fullscreen"])
    upload.click(actions.upload, [upload_file, upload_name], [table, message], api_name=False)
    refresh.click(actions.list_library, None, [table, message], api_name="list_templates")
    table.select(actions.pick, None, [template_id, name, thumbnail, facts], api_name=False)
    rename.click(actions.rename, [template_id, name], [table, message], api_name="rename_template")
    delete.click(actions.delete, template_id, [table, message, template_id], api_name="delete_template")
    return TableTab(table, message)
