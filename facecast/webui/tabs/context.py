"""What every tab shares: the API client, the API's option fields and a folder for downloaded files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from ..client import ApiClient, ApiError
from ..options import ApiOptions
from ..views import template_facts_markdown

POLL_WAIT_S = 1  # each poll long-polls this long, so a finished job shows at once and progress ticks each second


@dataclass(frozen=True, slots=True)
class UiContext:
    """Handed to each tab builder instead of closures over one shared scope."""

    api: ApiClient
    options: ApiOptions
    files: Path  # downloaded results, thumbnails and voice samples

    def fetch(self, url: str, name: str) -> str:
        """An API file (result, thumbnail, voice sample) in the local folder, downloaded once."""
        target = self.files / re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return str(target if target.exists() else self.api.download(api_path(url), target))

    def thumbnail(self, item: dict[str, Any]) -> str | None:
        return self.fetch(item["thumbnail_url"], f"{item['id']}.jpg") if item.get("thumbnail_url") else None

    def template_preview(self, template_id: str | None) -> tuple[str | None, str]:
        """A template's thumbnail and facts, or a warning in place of the facts."""
        if not template_id:
            return None, ""
        try:
            item = self.api.get_template(template_id)
            return self.thumbnail(item), template_facts_markdown(item)
        except ApiError as exc:
            return None, f"⚠️ {exc.message}"

    def template_names(self) -> dict[str, str]:
        return {t["id"]: t["name"] for t in self.api.list_templates()}


class TabActions:
    """Base of each tab's handlers: they call the API through the shared context."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx


@dataclass(frozen=True, slots=True)
class TableTab:
    """A tab built around one table: the page loader fills the table and clears the message."""

    table: gr.Dataframe
    message: gr.HTML


def api_path(url: str) -> str:
    """The path of an API URL: results are fetched from the configured base URL, which may differ from the
    public one the API writes into its answers (a proxy in front, 0.0.0.0 binds)."""
    parts = urlsplit(url)
    path = parts.path[parts.path.find("/v1/"):] if "/v1/" in parts.path else parts.path
    return path + (f"?{parts.query}" if parts.query else "")


def row_value(evt: Any) -> list[Any]:
    """The clicked table row of a select event."""
    return list(evt.row_value)
