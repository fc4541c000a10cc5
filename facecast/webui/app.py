"""The facecast web UI: a Gradio Blocks app that drives a facecast server through its HTTP API only.

`build_ui(api_base_url, ...)` makes the Blocks, one builder per tab (tabs/), its option widgets shaped by the
API's OpenAPI document, plus the scripting endpoints (scripting.py); `mount_ui` adds it to the service's FastAPI
app at /ui with a local-only theme (no web fonts, no analytics, no share links), so `facecast serve` is one URL.
When the server wants API keys, each page signs in with its own key and every call it makes carries that key,
so the API's own checks decide what the page may see and do.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this once

import gradio as gr  # noqa: E402

from .client import ApiClient, ApiError  # noqa: E402
from .options import ApiOptions  # noqa: E402
from .scripting import build_script_api  # noqa: E402
from .tabs.batch import BatchTab, build_batch_tab, picker_values  # noqa: E402
from .tabs.context import TableTab, UiContext  # noqa: E402
from .tabs.create import CreateActions, CreateTab, build_create_tab  # noqa: E402
from .tabs.inputs import voice_choices  # noqa: E402
from .tabs.jobs import JobsActions, build_jobs_tab  # noqa: E402
from .tabs.templates import build_templates_tab  # noqa: E402
from .views import error_html, message_html, template_choices, template_row  # noqa: E402

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
.fc-batch .fc-progress { margin: 2px 0 6px; }
/* Phones: smaller captions under the progress bars. */
@media (max-width: 640px) { .fc-caption { font-size: 0.8em; } }
"""


# The key a page signed in with also goes on the page's own file uploads, which the server refuses without one
# when keys are on (serve.py). It lives in this tab's sessionStorage: gone when the tab closes or signs out.
KEY_STORE = "facecast-key"
UPLOAD_KEY_SCRIPT = f"""<script>
(() => {{
  const send = window.fetch.bind(window);
  window.fetch = (input, init = {{}}) => {{
    const key = sessionStorage.getItem("{KEY_STORE}");
    const url = typeof input === "string" ? input : (input && input.url) || "";
    if (key && url.includes("/gradio_api/upload")) {{
      const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      headers.set("X-API-Key", key);
      init = {{...init, headers}};
    }}
    return send(input, init);
  }};
}})();
</script>"""
REMEMBER_KEY_JS = f'(key) => {{ sessionStorage.setItem("{KEY_STORE}", (key || "").trim()); return key; }}'
FORGET_KEY_JS = f'() => {{ sessionStorage.removeItem("{KEY_STORE}"); }}'


@dataclass(frozen=True, slots=True)
class _Tabs:
    create: CreateTab
    batch: BatchTab
    jobs: TableTab
    templates: TableTab


@dataclass(frozen=True, slots=True)
class _SignIn:
    """The sign-in form, and what it shows or hides."""

    form: gr.Row
    key: gr.Textbox
    button: gr.Button
    message: gr.HTML
    signed_in: gr.Row
    who: gr.Markdown
    sign_out: gr.Button
    studio: gr.Column


def build_ui(api_base_url: str, api_key: str | None = None, openapi: dict[str, Any] | None = None,
             sign_in: bool = False) -> gr.Blocks:
    """The UI for the facecast server at `api_base_url` (e.g. http://127.0.0.1:8000).

    Args:
        api_base_url: where the UI sends its API calls.
        api_key: read the OpenAPI document with it, and call the API with it for pages that did not sign in
            (a one-user standalone UI); leave it None when each page signs in.
        openapi: the server's OpenAPI document; fetched from `api_base_url` with `api_key` when not given.
        sign_in: the server wants API keys: each page signs in with its own before the studio shows.

    Raises:
        ApiError: the OpenAPI document could not be fetched or lacks an option the UI shows.
    """
    api = ApiClient(api_base_url, api_key)
    ctx = UiContext(api, read_options(api, openapi), Path(tempfile.mkdtemp(prefix="facecast-webui-")),
                    sign_in=sign_in and not api_key)
    with gr.Blocks(title="facecast", analytics_enabled=False) as ui:
        gr.Markdown("## facecast\nLip-synced talking videos from a template and speech. "
                    f"Everything here calls the [HTTP API]({api.base_url}/docs).")
        form = _sign_in_form(ctx)
        with form.studio:
            voices_state = gr.State(None)
            tabs = _Tabs(build_create_tab(ctx, voices_state), build_batch_tab(ctx), build_jobs_tab(ctx),
                         build_templates_tab(ctx))
        build_script_api(ctx)
        _wire_across_tabs(ui, ctx, voices_state, tabs, form)
    return ui


def _sign_in_form(ctx: UiContext) -> _SignIn:
    with gr.Row(visible=ctx.sign_in, equal_height=True) as row:
        key = gr.Textbox(label="API key", type="password", placeholder="this server's API key", scale=4,
                         min_width=200, elem_id="sign-in-key")
        button = gr.Button("Sign in", variant="primary", scale=1, min_width=100, elem_id="sign-in")
    message = gr.HTML(elem_id="sign-in-message")
    with gr.Row(visible=False, equal_height=True, elem_id="signed-in") as signed_in:
        who = gr.Markdown()
        sign_out = gr.Button("Sign out", size="sm", scale=0, min_width=100)
    studio = gr.Column(visible=not ctx.sign_in, elem_id="studio")
    return _SignIn(row, key, button, message, signed_in, who, sign_out, studio)


def read_options(api: ApiClient, openapi: dict[str, Any] | None = None) -> ApiOptions:
    """The API's option fields, from `openapi` or else GET /openapi.json; raises ApiError saying which failed."""
    try:
        return ApiOptions.from_openapi(api.openapi() if openapi is None else openapi)
    except ApiError as exc:
        raise ApiError(exc.status, exc.code, f"the web UI takes its options from {api.base_url}/openapi.json "
                                             f"and could not: {exc.detail}") from exc


def _wire_across_tabs(ui: gr.Blocks, ctx: UiContext, voices_state: gr.State, tabs: _Tabs, form: _SignIn) -> None:
    """Events that reach over tabs: sign-in, the page load that fills every picker and table, and templates
    added or refreshed on the Create tab reaching the Batch tab's picker."""
    create, batch = tabs.create, tabs.batch
    actions, page = CreateActions(ctx), _Page(ctx, voices_state, tabs)
    pickers = [create.template, batch.templates]
    create.refresh_templates.click(actions.refresh_choices, create.template, pickers, api_name=False)
    create.add_button.click(actions.add_template, [create.add_file, create.add_name], [create.add_status, *pickers],
                            api_name=False)
    outputs = [*pickers, *batch.picker_outputs(), voices_state, create.speech.mode, batch.speech.mode,
               create.speech.voice, batch.speech.voice, tabs.templates.table, tabs.jobs.table, tabs.jobs.message,
               tabs.templates.message]
    ui.load(page.load, None, outputs, api_name=False)
    switches = [form.form, form.signed_in, form.who, form.studio, form.message, form.key]
    for trigger in (form.button.click, form.key.submit):
        trigger(page.sign_in, form.key, switches, api_name=False, js=REMEMBER_KEY_JS).then(
            page.load, None, outputs, api_name=False)
    form.sign_out.click(page.sign_out, None, switches, api_name=False, js=FORGET_KEY_JS)
    ui.unload(page.forget)


class _Page:
    """Page-wide handlers: sign-in and out, and filling every tab."""

    def __init__(self, ctx: UiContext, voices_state: gr.State, tabs: _Tabs) -> None:
        self.ctx, self.voices_state, self.tabs = ctx, voices_state, tabs

    def sign_in(self, key: str, request: gr.Request) -> tuple[Any, ...]:
        """Check the key with one API call; keep it for this page only when the API accepts it."""
        key = (key or "").strip()
        try:
            self.ctx.api.with_key(key or None).list_templates(limit=1)
        except ApiError as exc:
            refused = exc.status in (401, 403)
            text = f"The server refused that API key; check it and try again ({exc.code})." if refused else exc
            return gr.update(), gr.update(), gr.update(), gr.update(), error_html(text), gr.update()
        self.ctx.sessions.set(request.session_hash, key)
        who = f"Signed in with the key ending in …{key[-4:]}" if len(key) > 8 else "Signed in"
        return gr.update(visible=False), gr.update(visible=True), who, gr.update(visible=True), "", ""

    def sign_out(self, request: gr.Request) -> tuple[Any, ...]:
        self.ctx.sessions.set(request.session_hash, None)
        return (gr.update(visible=True), gr.update(visible=False), "", gr.update(visible=False),
                message_html("Signed out"), "")

    def forget(self, request: gr.Request) -> None:
        self.ctx.sessions.set(request.session_hash, None)

    def load(self, request: gr.Request) -> dict[Any, Any]:
        """Everything a fresh (or freshly signed-in) page shows: template choices, voices, both tables."""
        session, tabs = self.ctx.page_session(request), self.tabs
        if session is None:  # not signed in yet: nothing to fill (an empty dict would read as one output value)
            return {tabs.jobs.message: ""}
        try:
            templates = session.api.list_templates()
            voices = session.api.list_voices()
            job_rows = JobsActions(self.ctx).rows(session.api, names={t["id"]: t["name"] for t in templates})
            gallery, checkboxes, ids = picker_values(session, templates)
        except ApiError as exc:
            return {tabs.jobs.message: error_html(exc), tabs.templates.message: error_html(exc)}
        choices = template_choices(templates, ready_only=True)
        speech_modes = (tabs.create.speech.mode, tabs.batch.speech.mode)
        voice_pickers = (tabs.create.speech.voice, tabs.batch.speech.voice)
        return {tabs.create.template: gr.update(choices=choices, value=choices[0][1] if choices else None),
                tabs.batch.picker: gallery, tabs.batch.templates: checkboxes, tabs.batch.picker_ids: ids,
                self.voices_state: voices, **{mode: gr.update(visible=voices is not None) for mode in speech_modes},
                **{picker: gr.update(choices=voice_choices(voices or [])) for picker in voice_pickers},
                tabs.templates.table: [template_row(t) for t in templates], tabs.jobs.table: job_rows,
                tabs.jobs.message: "", tabs.templates.message: ""}


def mount_ui(app: Any, api_base_url: str, sign_in: bool = False, path: str = "/ui",
             max_file_size: int | None = None) -> Any:
    """Mount the UI on a FastAPI app at `path`. With `sign_in` (the server has API keys) each page asks for a
    key and calls the API with it; `max_file_size` caps what a page may upload into Gradio's cache."""
    # The server is not listening yet while it mounts the UI, so the OpenAPI document is the one the app would
    # serve at GET /openapi.json, read from the app object itself.
    ui = build_ui(api_base_url, openapi=app.openapi(), sign_in=sign_in)
    return gr.mount_gradio_app(app, ui, path=path, theme=THEME, css=CSS, head=UPLOAD_KEY_SCRIPT, footer_links=["api"],
                               ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, show_error=True,
                               max_file_size=max_file_size)
