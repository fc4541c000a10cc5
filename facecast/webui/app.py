"""The facecast web UI: a Gradio Blocks app that drives a facecast server through its HTTP API only.

`build_ui(api_base_url, api_key)` makes the Blocks, one builder per tab (tabs/), its option widgets shaped by
the API's OpenAPI document; `mount_ui` adds it to the service's FastAPI app at /ui with a local-only theme (no
web fonts, no analytics, no share links), so `facecast serve` is one URL.
"""

from __future__ import annotations

import hmac
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this once

import gradio as gr  # noqa: E402

from .client import ApiClient, ApiError  # noqa: E402
from .options import ApiOptions  # noqa: E402
from .tabs.batch import BatchTab, build_batch_tab  # noqa: E402
from .tabs.context import TableTab, UiContext  # noqa: E402
from .tabs.create import CreateActions, CreateTab, build_create_tab  # noqa: E402
from .tabs.inputs import voice_choices  # noqa: E402
from .tabs.jobs import JobsActions, build_jobs_tab  # noqa: E402
from .tabs.templates import build_templates_tab  # noqa: E402
from .views import error_html, template_choices, template_row  # noqa: E402

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


@dataclass(frozen=True, slots=True)
class _Tabs:
    create: CreateTab
    batch: BatchTab
    jobs: TableTab
    templates: TableTab


def build_ui(api_base_url: str, api_key: str | None = None, openapi: dict[str, Any] | None = None) -> gr.Blocks:
    """The UI for the facecast server at `api_base_url` (e.g. http://127.0.0.1:8000).

    Args:
        api_base_url: where the UI sends its API calls.
        api_key: sent as a bearer token when the server requires one.
        openapi: the server's OpenAPI document; fetched from `api_base_url` with `api_key` when not given.

    Raises:
        ApiError: the OpenAPI document could not be fetched or lacks an option the UI shows.
    """
    api = ApiClient(api_base_url, api_key)
    ctx = UiContext(api, read_options(api, openapi), Path(tempfile.mkdtemp(prefix="facecast-webui-")))
    with gr.Blocks(title="facecast", analytics_enabled=False) as ui:
        gr.Markdown("## facecast\nLip-synced talking videos from a template and speech. "
                    f"Everything here calls the [HTTP API]({api.base_url}/docs).")
        voices_state = gr.State(None)
        tabs = _Tabs(build_create_tab(ctx, voices_state), build_batch_tab(ctx), build_jobs_tab(ctx),
                     build_templates_tab(ctx))
        _wire_across_tabs(ui, ctx, voices_state, tabs)
    return ui


def read_options(api: ApiClient, openapi: dict[str, Any] | None = None) -> ApiOptions:
    """The API's option fields, from `openapi` or else GET /openapi.json; raises ApiError saying which failed."""
    try:
        return ApiOptions.from_openapi(api.openapi() if openapi is None else openapi)
    except ApiError as exc:
        raise ApiError(exc.status, exc.code, f"the web UI takes its options from {api.base_url}/openapi.json "
                                             f"and could not: {exc.detail}") from exc


def _wire_across_tabs(ui: gr.Blocks, ctx: UiContext, voices_state: gr.State, tabs: _Tabs) -> None:
    """Events that reach over tabs: the page load fills every picker and table; templates added or refreshed
    on the Create tab reach the Batch tab's picker."""
    create, batch = tabs.create, tabs.batch
    actions = CreateActions(ctx)
    pickers = [create.template, batch.templates]
    create.refresh_templates.click(actions.refresh_choices, create.template, pickers, api_name=False)
    create.add_button.click(actions.add_template, [create.add_file, create.add_name], [create.add_status, *pickers],
                            api_name="add_template")
    outputs = [*pickers, voices_state, create.speech.mode, batch.speech.mode, create.speech.voice,
               batch.speech.voice, tabs.templates.table, tabs.jobs.table, tabs.jobs.message, tabs.templates.message]
    ui.load(lambda: _load_page(ctx, voices_state, tabs), None, outputs, api_name=False)


def _load_page(ctx: UiContext, voices_state: gr.State, tabs: _Tabs) -> dict[Any, Any]:
    """Everything a fresh page shows: template choices, voices, both tables."""
    try:
        templates = ctx.api.list_templates()
        voices = ctx.api.list_voices()
        job_rows = JobsActions(ctx).rows(names={t["id"]: t["name"] for t in templates})
    except ApiError as exc:
        return {tabs.jobs.message: error_html(exc), tabs.templates.message: error_html(exc)}
    choices = template_choices(templates, ready_only=True)
    speech_modes = (tabs.create.speech.mode, tabs.batch.speech.mode)
    voice_pickers = (tabs.create.speech.voice, tabs.batch.speech.voice)
    return {tabs.create.template: gr.update(choices=choices, value=choices[0][1] if choices else None),
            tabs.batch.templates: gr.update(choices=choices), voices_state: voices,
            **{mode: gr.update(visible=voices is not None) for mode in speech_modes},
            **{picker: gr.update(choices=voice_choices(voices or [])) for picker in voice_pickers},
            tabs.templates.table: [template_row(t) for t in templates], tabs.jobs.table: job_rows,
            tabs.jobs.message: "", tabs.templates.message: ""}
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
    # The server is not listening yet while it mounts the UI, so the OpenAPI document is the one the app would
    # serve at GET /openapi.json, read from the app object itself.
    ui = build_ui(api_base_url, api_key, openapi=app.openapi())
    return gr.mount_gradio_app(app, ui, path=path, theme=THEME, css=CSS,
                               footer_links=["api"], auth=auth, auth_message=LOGIN_MESSAGE, ssr_mode=False,
                               pwa=False, mcp_server=False,
                               enable_monitoring=False, show_error=True)
