"""Text jobs through a real server and worker on 127.0.0.1: voices, synthesis, subtitles, refusals, retries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from facecast.voice import synthesize

ENGLISH = "Hello there. Lips follow the voice."
MANDARIN = "你好，欢迎收看。"
TIMESTAMP = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the tests that run jobs, so a template is tracked once for all of them."""
    return tmp_path_factory.mktemp("text_jobs")


def ready_template(service, media: Path, name: str = "talking_man_480.mp4") -> str:
    with (media / name).open("rb") as handle:
        response = service.client.post("/v1/templates", files={"file": (name, handle)})
    assert response.status_code == 202, response.text
    template = service.wait_for(f"/v1/templates/{response.json()['id']}", {"ready", "failed"})
    assert template["status"] == "ready", template
    return template["id"]


def mp4_facts(data: bytes, path: Path) -> tuple[float, bool, int]:
    """Duration in seconds, whether the file has an audio stream, and how many subtitle streams."""
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return (float(container.duration) / av.time_base, bool(container.streams.audio),
                len(container.streams.subtitles))


def _seconds(match: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(x) for x in match)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_cues(text: str, vtt: bool) -> list[tuple[float, float, str]]:
    """(start, end, text) per cue of an SRT or WebVTT file; fails on anything malformed."""
    if vtt:
        assert text.startswith("WEBVTT\n\n"), text[:40]
        text = text[len("WEBVTT\n\n"):]
    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        if not vtt:
            assert lines.pop(0).isdigit(), block
        times = re.fullmatch(rf"{TIMESTAMP} --> {TIMESTAMP}", lines[0])
        assert times and len(lines) >= 2, block
        cues.append((_seconds(times.groups()[:4]), _seconds(times.groups()[4:]), " ".join(lines[1:])))
    starts = [c[0] for c in cues]
    assert starts == sorted(starts) and all(start < end for start, end, _ in cues)
    return cues


def download_subtitles(service, video: dict) -> tuple[list, list]:
    srt = service.client.get(video["subtitles_srt_url"])
    vtt = service.client.get(video["subtitles_vtt_url"])
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("application/x-subrip")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    srt_cues, vtt_cues = parse_cues(srt.text, vtt=False), parse_cues(vtt.text, vtt=True)
    assert [c[2] for c in srt_cues] == [c[2] for c in vtt_cues]
    return srt_cues, vtt_cues


def test_english_text_video_with_subtitles(make_service, media: Path, shared_dir: Path, tmp_path: Path) -> None:
    service = make_service(workers=1, data_dir=shared_dir).start()
    template_id = ready_template(service, media)
    response = service.client.post("/v1/videos", params={"wait": 60}, json={
        "template_id": template_id, "text": ENGLISH, "voice": "espeak:en-us", "subtitles": "soft"})
    video = response.json()
    assert response.status_code == 200 and video["status"] == "succeeded", video
    assert video["voice"] == "espeak:en-us" and video["audio_id"] is None

    speech_s = synthesize(ENGLISH, "espeak:en-us").duration_s
    content = service.client.get(video["video_url"]).content
    duration, has_audio, subtitle_tracks = mp4_facts(content, tmp_path / "out.mp4")
    assert has_audio and subtitle_tracks == 1 and abs(duration - speech_s) < 0.1, (duration, speech_s)
    assert abs(video["duration_s"] - speech_s) < 0.1

    srt_cues, _ = download_subtitles(service, video)
    assert " ".join(c[2] for c in srt_cues) == ENGLISH
    assert srt_cues[0][0] < 0.5 and srt_cues[-1][1] <= duration + 0.05

    assert service.client.delete(f"/v1/videos/{video['id']}").status_code == 204
    assert not list((shared_dir / "outputs").glob(f"{video['id']}.*"))  # mp4, jpg, srt and vtt all removed


def test_mandarin_text_video_with_burned_subtitles(make_service, media: Path, shared_dir: Path,
                                                   tmp_path: Path) -> None:
    service = make_service(workers=1, data_dir=shared_dir).start()
    template_id = ready_template(service, media)
    response = service.client.post("/v1/videos", params={"wait": 60}, json={
        "template_id": template_id, "text": MANDARIN, "voice": "espeak:cmn", "subtitles": "burn", "rate": 1.1})
    video = response.json()
    assert video["status"] == "succeeded", video
    srt_cues, _ = download_subtitles(service, video)
    assert "".join(c[2] for c in srt_cues).replace(" ", "") == MANDARIN
    duration, _, subtitle_tracks = mp4_facts(service.client.get(video["video_url"]).content, tmp_path / "zh.mp4")
    assert subtitle_tracks == 0  # burned, not a track
    assert abs(duration - synthesize(MANDARIN, "espeak:cmn", _options(rate=1.1)).duration_s) < 0.1

    # Burned in: white glyphs in the bottom fifth while the first cue shows (the template has none there).
    with av.open(str(tmp_path / "zh.mp4")) as container:
        frame = next(f for f in container.decode(video=0) if f.time >= srt_cues[0][0] + 0.05)
        band = frame.to_ndarray(format="rgb24")[int(frame.height * 0.8):]
    assert (band.min(axis=2) > 235).sum() > 50


def test_batch_speaks_once_for_two_templates(make_service, media: Path, shared_dir: Path) -> None:
    service = make_service(workers=1, data_dir=shared_dir).start()
    first = ready_template(service, media)
    second = ready_template(service, media, "talking_woman_480.mp4")
    text = "One script, two presenters."
    created = service.client.post("/v1/batches", json={"template_ids": [first, second], "text": text,
                                                       "max_height": 240})
    assert created.status_code == 202, created.text
    assert created.json()["voice"] == "espeak:en-us"  # the server's default voice
    batch = service.wait_for(f"/v1/batches/{created.json()['id']}", {"succeeded", "failed", "canceled"}, 120)
    assert batch["status"] == "succeeded" and batch["counts"] == {"succeeded": 2}, batch
    assert all(v["subtitles_srt_url"] and v["subtitles_vtt_url"] for v in batch["videos"])
    cues = [download_subtitles(service, v)[0] for v in batch["videos"]]
    assert cues[0] == cues[1]
    from facecast.service.speech import speech_key

    key = speech_key(text, "espeak:en-us", {})
    log = (shared_dir / "logs" / "facecast.log").read_text()
    assert log.count(f"synthesised speech {key}") == 1  # both videos used the one synthesis


@pytest.fixture
def queued_api(make_service, media: Path):
    """A server with no workers (nothing runs) and one uploaded template."""
    api = make_service(workers=0).start()
    with (media / "talking_man_480.mp4").open("rb") as handle:
        response = api.client.post("/v1/templates", files={"file": ("man.mp4", handle)})
    api.template_id = response.json()["id"]
    return api


BAD_INPUTS = [
    # (case, body without template_id, status, code, words the detail must contain)
    ("empty", {"text": ""}, 422, "empty_text", ["empty"]),
    ("whitespace", {"text": "  \n "}, 422, "empty_text", ["empty"]),
    ("punctuation", {"text": "?!… —"}, 422, "empty_text", ["punctuation"]),
    ("unknown voice", {"text": "Hi.", "voice": "espeak:klingon"}, 422, "unknown_voice",
     ["espeak:klingon", "facecast voices", "GET /v1/voices"]),
    ("unknown engine", {"text": "Hi.", "voice": "azure:jenny"}, 422, "unknown_voice", ["closest"]),
    ("wrong language", {"text": "你好。", "voice": "espeak:en-us"}, 422, "unsupported_language", ["espeak:cmn"]),
    ("too long", {"text": "word " * 4001}, 422, "text_too_long", ["20000"]),
    ("two sources", {"text": "Hi.", "audio_url": "http://127.0.0.1/a.wav"}, 422, "invalid_request",
     ["exactly one"]),
    ("no source", {}, 422, "invalid_request", ["audio_id or audio_url", "text"]),
    ("voice without text", {"audio_url": "http://127.0.0.1/a.wav", "voice": "espeak:en-us"}, 422,
     "invalid_request", ["only apply to text"]),
    ("rate", {"text": "Hi.", "rate": 3}, 422, "invalid_request", ["rate"]),
    ("subtitles", {"text": "Hi.", "subtitles": "both"}, 422, "invalid_request", ["subtitles"]),
]


def test_bad_text_input_is_refused_at_submit(queued_api) -> None:
    for case, body, status, code, words in BAD_INPUTS:
        for path, ids in (("/v1/videos", {"template_id": queued_api.template_id}),
                          ("/v1/batches", {"template_ids": [queued_api.template_id]})):
            response = queued_api.client.post(path, json={**ids, **body})
            problem = response.json()
            assert response.status_code == status and problem["code"] == code, (case, path, problem)
            assert response.headers["content-type"] == "application/problem+json", case
            assert all(word in problem["detail"] for word in words), (case, problem["detail"][:300])
    assert queued_api.client.get("/v1/videos").json()["data"] == []  # nothing was queued
    ok = queued_api.client.post("/v1/videos", json={"template_id": queued_api.template_id, "text": "Hi.",
                                                    "voice": "espeak:EN-US", "pitch": -2, "volume": 0.8})
    assert ok.status_code == 202 and ok.json()["voice"] == "espeak:en-us", ok.text
    assert ok.json()["subtitles_srt_url"] is None  # only once succeeded


def test_voices_previews_and_openapi(make_service, tmp_path: Path) -> None:
    servers = json.dumps([{"name": "local", "base_url": "http://user:pw@127.0.0.1:9/v1", "voices": ["alloy"],
                           "api_key": "sk-secret", "language": "en"}])
    api = make_service(workers=0, FACECAST_VOICE__OPENAI=servers).start()
    voices = api.client.get("/v1/voices").json()["data"]
    by_id = {v["id"]: v for v in voices}
    assert by_id["espeak:en-us"]["engine"] == "espeak" and by_id["espeak:en-us"]["language"] == "en-us"
    assert by_id["espeak:cmn"]["language"] == "cmn" and by_id["espeak:en-us+f3"]["gender"] == "female"
    assert by_id["openai:local/alloy"]["engine"] == "openai" and len(voices) > 100
    chinese = api.client.get("/v1/voices", params={"language": "cmn"}).json()["data"]
    assert chinese and all(v["language"].startswith("cmn") for v in chinese)
    assert {v["engine"] for v in api.client.get("/v1/voices", params={"engine": "openai"}).json()["data"]} == {
        "openai"}

    started = time.monotonic()
    preview = api.client.get(by_id["espeak:cmn"]["preview_url"])
    assert preview.status_code == 200 and preview.content[:4] == b"RIFF" and len(preview.content) > 20_000
    assert api.client.get(by_id["espeak:cmn"]["preview_url"]).content == preview.content
    assert len(list((api.data_dir / "cache" / "voices").glob("*.wav"))) == 1, time.monotonic() - started
    missing = api.client.get("/v1/voices/espeak%3Aklingon/preview")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_voice"
    down = api.client.get(by_id["openai:local/alloy"]["preview_url"])
    assert down.status_code == 503 and down.json()["code"] == "tts_unreachable"

    schema = api.client.get("/openapi.json").json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"list_voices", "preview_voice", "get_video_srt", "get_video_vtt"} <= ids
    for name in ("VideoCreate", "BatchCreate"):
        props = schema["components"]["schemas"][name]["properties"]
        for field in ("text", "voice", "rate", "pitch", "volume", "subtitles"):
            assert props[field]["description"], (name, field)
        assert props["text"]["maxLength"] == 20_000

    shown = subprocess.run([sys.executable, "-m", "facecast.service", "config"], env=api.env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert "sk-secret" not in shown and ":pw@" not in shown and "openai" in shown


def test_unreachable_speech_server_fails_after_bounded_attempts(make_service, media: Path,
                                                                shared_dir: Path) -> None:
    servers = json.dumps([{"name": "down", "base_url": f"http://127.0.0.1:{_closed_port()}/v1", "timeout_s": 2}])
    service = make_service(workers=1, data_dir=shared_dir, FACECAST_VOICE__OPENAI=servers,
                           FACECAST_WORKER__MAX_ATTEMPTS="2").start()
    template_id = ready_template(service, media)
    started = time.monotonic()
    created = service.client.post("/v1/videos", json={"template_id": template_id, "text": "Is anyone there?",
                                                      "voice": "openai:down/alloy"})
    assert created.status_code == 202, created.text
    video = service.wait_for(f"/v1/videos/{created.json()['id']}", {"succeeded", "failed", "canceled"}, 60)
    assert video["status"] == "failed" and video["error_code"] == "tts_unreachable", video
    assert video["attempts"] == 2 and "unreachable" in video["error_message"]
    assert time.monotonic() - started < 30
    log = (shared_dir / "logs" / "facecast.log").read_text()
    assert f"job={video['id']} status=queued reason=retry code=tts_unreachable" in log


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _options(**values: float):
    from facecast.voice import SynthesisOptions

    return SynthesisOptions(**values)

