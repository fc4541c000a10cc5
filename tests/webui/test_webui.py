"""The web UI at /ui of a real `facecast serve` (API + worker), driven with gradio_client like a browser would."""

from __future__ import annotations

import copy
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from facecast import assets
from facecast.webui.client import ENDED, ApiClient, ApiError
from facecast.webui.options import ApiOptions
from facecast.webui.views import format_eta, progress_html
from tests.support.media import trim_wav
from tests.support.server import Service

gradio_client = pytest.importorskip("gradio_client")

AUDIO, TEXT = "Audio file or recording", "Text, spoken by a voice"
# What a browser fetches: stylesheets, scripts, images, frames, fonts (url(...) / @import in CSS).
FETCHED = re.compile(r"""<(?:link|script|img|iframe|source|video|audio)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)""",
                     re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])([^"')]+)""", re.IGNORECASE)
SLIDER_FIELDS = {"Rate": "rate", "Pitch (semitones)": "pitch", "Volume": "volume", "Mouth intensity": "intensity"}
CHOICE_FIELDS = {"Subtitles": "subtitles", "Renderer": "render_mode"}
PRESET_FIELDS = {"Max height": "max_height", "Quality": "crf"}
MOUTH = ("auto", 1.0)  # renderer and intensity: undocumented UI endpoints get every input, defaults included


@pytest.fixture(scope="module")
def demo_template(service: Service) -> str:
    with open(assets.DEMO_TEMPLATE, "rb") as file:
        created = service.client.post("/v1/templates", files={"file": ("demo.mp4", file)}, data={"name": "demo"})
    assert created.status_code == 202, created.text
    return service.wait_for(f"/v1/templates/{created.json()['id']}", {"ready", "failed"}, 120)["id"]


@pytest.fixture
def short_speech(tmp_path: Path) -> Path:
    return trim_wav(assets.DEMO_SPEECH, tmp_path / "speech.wav", 2.0)


def generate(ui: gradio_client.Client, template_id: str | None, audio: Path | None) -> tuple:
    audio_arg = gradio_client.handle_file(str(audio)) if audio else None
    return ui.predict(template_id, AUDIO, audio_arg, "", None, 1.0, 0, 1.0, "none", 0, 20, *MOUTH,
                      api_name="/ui_generate")


def test_generate_returns_the_finished_video(ui, demo_template: str, short_speech: Path, service: Service) -> None:
    status, video, download = generate(ui, demo_template, short_speech)
    assert 'data-status="succeeded"' in status and "100%" in status
    video_path = Path(video["video"] if isinstance(video, dict) else video)
    assert video_path.suffix == ".mp4" and video_path.stat().st_size > 10_000
    assert video_path.read_bytes()[4:8] == b"ftyp"
    assert [Path(d).read_bytes() for d in download] == [video_path.read_bytes()]
    # the job is a normal API job, listed by the Jobs tab
    listed = service.client.get("/v1/videos", params={"status": "succeeded"}).json()["data"]
    assert any(v["id"] in status for v in listed)
    table, _message = ui.predict("succeeded", api_name="/list_jobs")
    assert any(row[0] in status for row in table["data"])


def test_no_template_is_a_readable_message(ui, short_speech: Path) -> None:
    status, video, _ = generate(ui, None, short_speech)
    assert "Choose a template first" in status and "fc-error" in status
    assert video is None
    assert "Traceback" not in status


def test_api_problem_shows_detail_and_code(ui, demo_template: str, tmp_path: Path) -> None:
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"this is not audio at all" * 100)
    status, video, _ = generate(ui, demo_template, not_audio)
    assert "fc-error" in status and "(unsupported_media)" in status, status
    assert video is None
    status, _, _ = generate(ui, "tpl_missing", None)
    assert "Upload or record the speech first" in status


def test_templates_tab_lists_facts_and_renames(ui, demo_template: str, service: Service) -> None:
    table, _ = ui.predict(api_name="/list_templates")
    row = next(r for r in table["data"] if r[-1] == demo_template)
    assert row[2] == "480×480" and row[5] == "100%"
    table, message = ui.predict(demo_template, "demo renamed", api_name="/rename_template")
    assert "renamed to demo renamed" in message
    assert service.client.get(f"/v1/templates/{demo_template}").json()["name"] == "demo renamed"
    _, message = ui.predict(demo_template, "", api_name="/rename_template")
    assert "fc-error" in message and "invalid_request" in message


def test_page_fetches_nothing_from_other_hosts(service: Service) -> None:
    page = httpx.get(f"{service.url}/ui/", timeout=30)
    assert page.status_code == 200
    fetched = FETCHED.findall(page.text)
    assert fetched, "expected the page to load its own scripts"
    stylesheets = [u for u in fetched if u.endswith(".css")] + [f"{service.url}/ui/theme.css"]
    for href in stylesheets:
        css = httpx.get(href if href.startswith("http") else f"{service.url}/ui/{href.lstrip('./')}", timeout=30)
        assert css.status_code == 200, href
        fetched += [u for u in CSS_URL.findall(css.text) if not u.startswith("data:")]
    external = [u for u in fetched if re.match(r"(?:https?:)?//", u) and not u.startswith(service.url)]
    assert external == [], external
    assert "fonts.googleapis" not in page.text


def test_voice_inputs_follow_the_server(service: Service) -> None:
    """Text inputs appear only when the server has GET /v1/voices; list_voices says which."""
    has_voices = service.client.get("/v1/voices").status_code == 200
    voices = ApiClient(service.url).list_voices()
    assert (voices is not None) == has_voices


def test_client_error_carries_code_and_detail(service: Service) -> None:
    with pytest.raises(ApiError) as caught:
        ApiClient(service.url).get_video("vid_nope")
    assert caught.value.status == 404 and caught.value.code == "not_found"
    assert caught.value.detail in caught.value.message
    with pytest.raises(ApiError) as caught:
        ApiClient("http://127.0.0.1:9").list_templates()
    assert caught.value.code == "unreachable"


def test_progress_bar_shows_stage_and_eta() -> None:
    html = progress_html(0.42, "processing", "rendering", 75.0)
    assert "width:42.0%" in html and "rendering" in html and "about 1 min 15 s left" in html
    assert format_eta(None) == "" and format_eta(9.6) == "about 10 s left"
    assert "<script>" not in progress_html(0.1, "processing", "<script>", None)


def test_batch_tab_returns_one_video_per_template(ui, demo_template: str, short_speech: Path) -> None:
    status, gallery, zipped = ui.predict([demo_template], AUDIO, gradio_client.handle_file(str(short_speech)), "",
                                         None, 1.0, 0, 20, *MOUTH, api_name="/ui_batch")
    assert 'data-status="succeeded"' in status and "1 succeeded" in status, status
    with zipfile.ZipFile(zipped) as archive:
        names = archive.namelist()
        assert len(names) == 1 and names[0].endswith(".mp4") and archive.read(names[0])[4:8] == b"ftyp"
    assert len(gallery) == 1


def test_text_is_spoken_when_the_server_has_voices(ui, demo_template: str, service: Service) -> None:
    if service.client.get("/v1/voices").status_code == 404:
        pytest.skip("this server has no voice API (GET /v1/voices answers 404)")
    status, video, download = ui.predict(demo_template, TEXT, None, "Hello there.", "espeak:en-us", 1.2, 0, 1.0,
                                         "none", 0, 20, *MOUTH, api_name="/ui_generate")
    assert 'data-status="succeeded"' in status, status
    assert sorted(Path(d).suffix for d in download) == [".mp4", ".srt", ".vtt"]
    assert "Hello" in next(Path(d) for d in download if d.endswith(".srt")).read_text()
    status, _, _ = ui.predict(demo_template, TEXT, None, "Hi.", "", 1.0, 0, 1.0, "none", 0, 20, *MOUTH,
                              api_name="/ui_generate")  # "" is the voice picker's "Server default"
    assert 'data-status="succeeded"' in status, status
    status, _, _ = ui.predict(demo_template, TEXT, None, "Hi", "espeak:no-such-voice", 1.0, 0, 1.0, "none", 0, 20,
                              *MOUTH,
                              api_name="/ui_generate")
    assert "fc-error" in status and "(unknown_voice)" in status, status


def _request_field(openapi: dict[str, Any], name: str) -> dict[str, Any]:
    """A VideoCreate property as the API states it: the non-null branch of an optional field, $refs followed."""
    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            target: Any = openapi
            for key in schema["$ref"].removeprefix("#/").split("/"):
                target = target[key]
            schema = target
        return schema

    field = resolve(openapi["components"]["schemas"]["VideoCreate"]["properties"][name])
    branches = [resolve(b) for b in field.get("anyOf", [])]
    return {**next((b for b in branches if b.get("type") != "null"), {}), **field}


def test_option_widgets_follow_the_api_schema(ui, service: Service) -> None:
    """The page's sliders and dropdowns carry the bounds, values and help text of GET /openapi.json."""
    openapi = service.client.get("/openapi.json").json()
    widgets = [c["props"] for c in ui.config["components"] if c["props"].get("label")]
    seen = set()
    for props in widgets:
        label = props["label"]
        if label in SLIDER_FIELDS:
            field = _request_field(openapi, SLIDER_FIELDS[label])
            assert (props["minimum"], props["maximum"]) == (field["minimum"], field["maximum"]), label
            assert field["minimum"] <= props["value"] <= field["maximum"], label
        elif label in CHOICE_FIELDS:
            field = _request_field(openapi, CHOICE_FIELDS[label])
            assert [value for _, value in props["choices"]] == field["enum"], label
        elif label in PRESET_FIELDS:
            field = _request_field(openapi, PRESET_FIELDS[label])
            values = [value for _, value in props["choices"] if value]  # 0: leave the field out
            assert values and all(field["minimum"] <= v <= field["maximum"] for v in values), label
        else:
            continue
        assert props["info"] == field["description"], label
        seen.add(label)
    assert seen == {*SLIDER_FIELDS, *CHOICE_FIELDS, *PRESET_FIELDS}
    statuses = openapi["components"]["schemas"]["VideoPublic"]["properties"]["status"]["enum"]
    status_filter = next(p for p in widgets if p["label"] == "Status")
    assert [value for _, value in status_filter["choices"]] == ["all", *statuses]
    assert set(ENDED) <= set(statuses)


def test_standalone_ui_reads_the_schema_over_http(service: Service) -> None:
    from facecast.webui.app import build_ui, read_options

    options = read_options(ApiClient(service.url))
    assert options == ApiOptions.from_openapi(service.client.get("/openapi.json").json())
    assert (options.rate.minimum, options.rate.maximum) == (0.5, 2.0)
    assert build_ui(service.url) is not None
    with pytest.raises(ApiError) as caught:
        build_ui("http://127.0.0.1:9")
    assert caught.value.code == "unreachable" and "/openapi.json" in caught.value.message


def test_a_schema_without_an_option_is_refused(service: Service) -> None:
    openapi = service.client.get("/openapi.json").json()
    broken = copy.deepcopy(openapi)
    del broken["components"]["schemas"]["VideoCreate"]["properties"]["rate"]
    with pytest.raises(ApiError) as caught:
        ApiOptions.from_openapi(broken)
    assert caught.value.code == "openapi_unreadable" and "VideoCreate.rate" in caught.value.message


def test_history_retries_an_api_job_with_its_inputs(ui, demo_template: str, short_speech: Path,
                                                   service: Service) -> None:
    """A job made through the HTTP API shows in History; Retry makes it again with the same inputs."""
    with short_speech.open("rb") as handle:
        audio = service.client.post("/v1/audio", files={"file": ("speech.wav", handle)}).json()
    original = service.client.post("/v1/videos", json={"template_id": demo_template, "audio_id": audio["id"],
                                                       "crf": 28, "metadata": {"from": "api"}}).json()
    table, _ = ui.predict("all", api_name="/list_jobs")
    assert original["id"] in [row[0] for row in table["data"]]
    table, message = ui.predict(original["id"], "all", api_name="/retry_job")
    assert "made again as vid_" in message, message
    again_id = re.search(r"made again as (vid_\w+)", message).group(1)
    again = service.client.get(f"/v1/videos/{again_id}").json()
    assert (again["template_id"], again["audio_id"], again["metadata"]) == (demo_template, audio["id"], {"from": "api"})
    assert again["options"]["crf"] == 28 and again["text"] is None
    assert again_id in [row[0] for row in table["data"]]
    _, message = ui.predict("vid_nope", "all", api_name="/retry_job")
    assert "fc-error" in message and "(not_found)" in message
