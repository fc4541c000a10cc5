"""The Templates tab: the library with each template's facts, rename and delete."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..client import ApiError
from ..views import TEMPLATE_COLUMNS, error_html, message_html, template_row
from .context import TableTab, TabActions, UiContext, row_value


class TemplatesActions(TabActions):
    def list_library(self) -> tuple[Any, str]:
        try:
            return [template_row(t) for t in self.ctx.api.list_templates()], ""
        except ApiError as exc:
            return gr.update(), error_html(exc)

    def pick(self, evt: gr.SelectData) -> tuple[str, str, str | None, str]:
        row = row_value(evt)
        template_id = str(row[-1])
        image, facts = self.ctx.template_preview(template_id)
        return template_id, str(row[0]), image, facts

    def rename(self, template_id: str, name: str) -> tuple[Any, str]:
        try:
            item = self.ctx.api.rename_template(template_id.strip(), name.strip())
        except ApiError as exc:
            return gr.update(), error_html(exc)
        table, problem = self.list_library()
        return table, problem or message_html(f"renamed to {item['name']}", "ok")

    def delete(self, template_id: str) -> tuple[Any, str, str]:
        try:
            self.ctx.api.delete_template(template_id.strip())
        except ApiError as exc:
            return gr.update(), error_html(exc), template_id
        table, problem = self.list_library()
        return table, problem or message_html(f"{template_id} deleted", "ok"), ""


def build_templates_tab(ctx: UiContext) -> TableTab:
    """Lay out the Templates tab and wire its table and buttons."""
    actions = TemplatesActions(ctx)
    with gr.Tab("Templates", id="templates"):
        refresh = gr.Button("↻ Refresh", size="sm")
        table = gr.Dataframe(headers=TEMPLATE_COLUMNS, interactive=False, wrap=True)
        with gr.Row():
            with gr.Column(scale=2):
                template_id = gr.Textbox(label="Selected template", placeholder="click a row")
                name = gr.Textbox(label="Name")
                with gr.Row():
                    rename = gr.Button("Rename")
                    delete = gr.Button("Delete", variant="stop")
                message = gr.HTML()
                facts = gr.Markdown()
            with gr.Column(scale=1):
                thumbnail = gr.Image(label="Thumbnail", type="filepath", interactive=False, height=220,
                                     buttons=["fullscreen"])
    refresh.click(actions.list_library, None, [table, message], api_name="list_templates")
    table.select(actions.pick, None, [template_id, name, thumbnail, facts], api_name=False)
    rename.click(actions.rename, [template_id, name], [table, message], api_name="rename_template")
    delete.click(actions.delete, template_id, [table, message, template_id], api_name="delete_template")
    return TableTab(table, message)
