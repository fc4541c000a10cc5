"""What every tab shares: the API client, the API's option fields, the signed-in sessions and a folder for
downloaded files."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from facecast.service.api.credentials import presented_key

from ..client import ApiClient, ApiError
from ..options import ApiOptions
from ..views import template_facts_markdown

POLL_WAIT_S = 1  # each poll long-polls this long, so a finished job shows at once and progress ticks each second


class SessionKeys:
    """The API key each browser session signed in with, by Gradio session hash (one per open page, as
    gr.State is), so two people on one UI each act as their own key. Forgotten when the page closes."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, session: str | None) -> str | None:
        with self._lock:
            return self._keys.get(session or "")

    def set(self, session: str, key: str | None) -> None:
        with self._lock:
            if key:
                self._keys[session] = key
            else:
                self._keys.pop(session, None)


@dataclass(frozen=True, slots=True)
class Session:
    """One caller's view of the API: its key's client and its own download folder, so a file fetched with
    one key is never served from the cache to another."""

    api: ApiClient
    files: Path

    def fetch(self, url: str, name: str) -> str:
        """An API file (result, thumbnail, voice sample) in this caller's folder, downloaded once."""
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


@dataclass(frozen=True, slots=True)
class UiContext:
    """Handed to each tab builder instead of closures over one shared scope."""

    api: ApiClient  # its key, if any (the standalone UI's --api-key), serves sessions that did not sign in
    options: ApiOptions
    files: Path  # downloaded results, thumbnails and voice samples, one folder per key
    sign_in: bool = False  # the server wants a key: each page signs in with its own
    sessions: SessionKeys = field(default_factory=SessionKeys)

    def session(self, request: gr.Request | None) -> Session:
        """The caller of this event: the key its page signed in with, else a key in the request's own headers
        (a gradio_client script's), else the UI's."""
        key = (self.sessions.get(getattr(request, "session_hash", None))
               or presented_key(dict(getattr(request, "headers", None) or {})) or self.api.api_key)
        folder = hashlib.sha256(key.encode()).hexdigest()[:16] if key else "anonymous"
        return Session(self.api.with_key(key), self.files / folder)

    def page_session(self, request: gr.Request) -> Session | None:
        """The session of a page event, or None while a page that must sign in has not."""
        if self.sign_in and not self.sessions.get(request.session_hash) and not self.api.api_key:
            return None
        return self.session(request)


class TabActions:
    """Base of each tab's handlers: they call the API as the event's caller."""

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
