"""The Gradio API scripts use (/gradio_api/..., gradio_client): /generate and /batch with files, URLs and ids."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from facecast import assets
from tests.support.media import media_path, trim_wav
from tests.support.server import Service

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server on 127.0.0.1 (a host the test service may fetch from) and its folder."""
    folder = tmp_path_factory.mktemp("served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()


def duration_s(path: str) -> float:
    with av.open(path) as container:
        return float(container.duration) / av.time_base


def test_the_endpoints_are_named_and_documented(ui: gradio_client.Client) -> None:
    endpoints = ui.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = {p["parameter_name"] for p in endpoints["/generate"]["parameters"]}
    assert {"template_file", "template", "audio_file", "audio_url", "text", "voice", "options"} <= names
    assert "templates" in {p["parameter_name"] for p in endpoints["/batch"]["parameters"]}
    assert "/ui_generate" not in endpoints and "/ui_batch" not in endpoints


def test_generate_from_files(ui: gradio_client.Client, service: Service, tmp_path: Path) -> None:
    speech = trim_wav(assets.DEMO_SPEECH, tmp_path / "speech.wav", 1.2)
    video, job = ui.predict(template_file=gradio_client.handle_file(str(media_path("portrait.jpg"))),
                            audio_file=gradio_client.handle_file(str(speech)), options={"max_height": 240},
                            api_name="/generate")
    assert Path(video).read_bytes()[4:8] == b"ftyp" and abs(duration_s(video) - 1.2) < 0.1
    assert job["status"] == "succeeded" and job["height"] <= 240
    assert service.client.get(f"/v1/videos/{job['id']}").json()["status"] == "succeeded"  # an ordinary API job


def test_batch_from_urls_and_ids(ui: gradio_client.Client, service: Service, files: tuple[str, Path]) -> None:
    base, folder = files
    trim_wav(assets.DEMO_SPEECH, folder / "speech.wav", 1.0)
    (folder / "portrait.jpg").write_bytes(media_path("portrait.jpg").read_bytes())
    with media_path("portrait.jpg").open("rb") as handle:
        created = service.client.post("/v1/templates", files={"file": ("p.jpg", handle)}).json()
    service.wait_for(f"/v1/templates/{created['id']}", {"ready"}, 60)
    videos, batch = ui.predict(templates=f"{base}/portrait.jpg, {created['id']}", audio_url=f"{base}/speech.wav",
                               api_name="/batch")
    assert batch["counts"] == {"succeeded": 2} and len(videos) == 2
    assert all(Path(v).read_bytes()[4:8] == b"ftyp" and abs(duration_s(v) - 1.0) < 0.1 for v in videos)


def test_problems_are_readable(ui: gradio_client.Client) -> None:
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        ui.predict(template="tpl_missing", text="hello", api_name="/generate")
    assert "(not_found)" in str(caught.value) and "Traceback" not in str(caught.value)
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        ui.predict(template="tpl_missing", api_name="/generate")
    assert "Give the speech" in str(caught.value)
