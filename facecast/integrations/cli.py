"""`facecast openapi`: the OpenAPI document to paste into Dify (or any workflow tool importer)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from facecast.engine.files import write_text_atomic


def openapi_document(server_url: str, whole_api: bool = False) -> dict[str, Any]:
    """The service's OpenAPI with `server_url` as its only server: the tool operations, or every operation."""
    from facecast.service.api.routes.tools import tool_spec
    from facecast.service.app import create_app
    from facecast.service.settings import Settings

    with tempfile.TemporaryDirectory(prefix="facecast-openapi-") as scratch:
        app = create_app(Settings(data_dir=Path(scratch), public_url=server_url))
        spec = app.openapi()
        app.state.jobs.close()
    if whole_api:
        return {**spec, "servers": [{"url": server_url.rstrip("/"), "description": "facecast"}]}
    return tool_spec(spec, server_url)


def openapi(server_url: Annotated[str, typer.Option(
                help="Base URL Dify reaches facecast at, e.g. http://host.docker.internal:8000")],
            output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write; default stdout")] = None,
            whole_api: Annotated[bool, typer.Option("--all", help="Every operation, not only the workflow tools")] = False,
            ) -> None:
    """Print the OpenAPI document to import into Dify as a custom tool (Tools > Custom > Create)."""
    from facecast.cli_support import fail, run_or_exit

    if not server_url.startswith(("http://", "https://")):
        raise fail("--server-url must start with http:// or https://")
    text = json.dumps(run_or_exit(lambda: openapi_document(server_url, whole_api)), indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        write_text_atomic(output, text + "\n")
        typer.echo(f"wrote {output}; paste it into Dify: Tools > Custom > Create Custom Tool")


def register(app: typer.Typer) -> None:
    app.command("openapi")(openapi)
