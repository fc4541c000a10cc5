"""What `facecast serve` runs: the HTTP API, with the web UI mounted at /ui beside it.

The API (service/app.py) knows nothing of the UI; the UI is a client of the API over loopback. Only the
process that starts a server puts the two in one ASGI app, so neither package imports the other.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from .service.app import create_app
from .service.settings import Settings

log = logging.getLogger("facecast.serve")
UI_PATH = "/ui"


def server_app(settings: Settings) -> FastAPI:
    """The API for `settings`, plus the web UI at /ui when `settings.webui` is on and gradio is installed."""
    app = create_app(settings)
    if settings.webui:
        mount_webui(app, settings)
    return app


def mount_webui(app: FastAPI, settings: Settings) -> bool:
    """Mount the Gradio UI at /ui as a client of this server's API; False when gradio is not installed."""
    try:
        from .webui.app import mount_ui
    except ImportError as exc:
        log.warning("web UI off: %s (pip install 'facecast[webui]')", exc)
        return False
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    # With API keys (config or `facecast keys`) each page signs in with its own key, which every call carries.
    mount_ui(app, f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}",
             sign_in=app.state.auth.required(), max_file_size=settings.max_upload_bytes, path=UI_PATH)
    # Files a page uploads land on this server's disk: with keys on, only a signed-in page may send them (the page
    # adds its key to its upload requests).
    app.state.guard.keyed_paths.add(f"{UI_PATH}/gradio_api/upload")
    return True
