"""The one-call tool operations and the HeyGem-compatible /easy routes, on a live server with a worker."""

from __future__ import annotations

import shutil
import time

from tests.support.media import media_path


def upload_speech(live) -> str:
    """The speech uploaded once, for the tool calls that take recorded audio."""
    upload = live.client.post("/v1/audio", files={"file": ("speech.wav", live.speech.read_bytes())})
    assert upload.status_code == 201, upload.text
    return upload.json()["id"]


def test_generate_video_waits_and_returns_the_url(live) -> None:
    audio_id = upload_speech(live)
    answer = live.client.post("/v1/generate", json={"template_id": "presenter", "audio_id": audio_id,
                                                    "text": "", "voice": None, "wait_s": 55})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "succeeded" and body["video_url"].endswith(f"/v1/videos/{body['video_id']}/content")
    assert body["template_id"] == live.template_id and body["message"].startswith("The video is ready")
    assert live.client.get(body["video_url"]).content[4:8] == b"ftyp"


def test_generate_without_waiting_and_batch(live) -> None:
    audio_id = upload_speech(live)
    answer = live.client.post("/v1/generate", json={"template_id": live.template_id, "audio_id": audio_id,
                                                    "wait_s": 0})
    assert answer.status_code == 202 and answer.json()["status"] in ("queued", "processing")
    assert "get_video" in answer.json()["message"]
    assert live.wait(f"/v1/videos/{answer.json()['video_id']}")["status"] == "succeeded"
    batch = live.client.post("/v1/generate/batch", json={"template_ids": f"presenter, {live.template_id}",
                                                         "audio_id": audio_id, "wait_s": 55}).json()
    if batch["status"] != "succeeded":  # two videos on two cores may take longer than one wait
        batch = live.wait(f"/v1/batches/{batch['batch_id']}")
        urls = [v["video_url"] for v in batch["videos"]]
    else:
        urls = batch["video_urls"]
    assert len(urls) == 2 and all(urls)


def test_generate_refuses_clearly(live) -> None:
    missing = live.client.post("/v1/generate", json={"template_id": "nobody", "audio_url": "http://x/a.wav"})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    neither = live.client.post("/v1/generate", json={"template_id": "presenter"})
    assert neither.status_code == 422 and neither.json()["code"] == "invalid_request"
    too_long = live.client.post("/v1/generate", json={"template_id": "presenter", "audio_url": "http://x/a.wav",
                                                      "wait_s": 120})
    assert too_long.status_code == 422
    assert live.client.post("/v1/generate", headers={"Authorization": "Bearer wrong"},
                            json={"template_id": "presenter"}).status_code == 401


def query(live, code: str) -> dict:
    answer = live.client.get("/easy/query", params={"code": code})
    assert answer.status_code == 200
    return answer.json()


def test_heygem_submit_and_query_survive_a_restart(live) -> None:
    folder = live.data_dir / "heygem"
    (folder / "temp").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(live.speech, folder / "temp" / "voice.wav")
    shutil.copyfile(media_path("talking_man_480.mp4"), folder / "man.mp4")
    submit = live.client.post("/easy/submit", json={
        "audio_url": "/code/data/temp/voice.wav", "video_url": "man.mp4", "code": "task-1",
        "chaofen": 0, "watermark_switch": 0, "pn": 1}).json()
    assert submit == {"code": 10000, "data": {}, "msg": "submitted", "success": True}
    assert live.client.post("/easy/submit", json={"audio_url": "temp/voice.wav", "video_url": "man.mp4",
                                                  "code": "task-1"}).json()["code"] == 10000  # a retry
    first = query(live, "task-1")
    assert first["code"] == 10000 and first["data"]["status"] in (1, 2)
    done = wait_for_task(live, "task-1")
    assert done["status"] == 2 and done["progress"] == 100 and done["result"].endswith("/content")
    live.service.stop()
    live.service.start()
    again = query(live, "task-1")["data"]
    assert again["status"] == 2 and again["result"] == done["result"]
    assert live.client.get(again["result"]).content[4:8] == b"ftyp"


def wait_for_task(live, code: str, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while (task := query(live, code)["data"])["status"] == 1:
        assert time.monotonic() < deadline, task
        time.sleep(1)
    return task


def test_heygem_urls_are_fetched_by_the_worker_and_the_video_waits_for_its_template(live, tmp_path) -> None:
    import functools
    import http.server
    import threading

    shutil.copyfile(media_path("talking_man_480.mp4"), tmp_path / "man.mp4")
    shutil.copyfile(live.speech, tmp_path / "voice.wav")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        started = time.monotonic()
        submit = live.client.post("/easy/submit", json={"video_url": f"{base}/man.mp4",
                                                        "audio_url": f"{base}/voice.wav", "code": "by-url"}).json()
        assert submit["success"] is True and time.monotonic() - started < 2.0, submit
        assert query(live, "by-url")["data"]["status"] in (1, 2)
        done = wait_for_task(live, "by-url")
    finally:
        server.shutdown()
        server.server_close()
    assert done["status"] == 2 and done["progress"] == 100 and done["error_code"] is None, done
    assert live.client.get(done["result"]).content[4:8] == b"ftyp"


def test_heygem_refusals(live) -> None:
    missing = query(live, "no-such-task")
    assert missing["code"] == 10004 and missing["success"] is False
    for bad in ("../facecast.db", "/etc/passwd", "/code/data/../../etc/passwd", "nothing-here.wav"):
        answer = live.client.post("/easy/submit", json={"audio_url": bad, "video_url": bad, "code": f"bad-{bad}"})
        assert answer.status_code == 200 and answer.json()["code"] == 10002, answer.text
        assert query(live, f"bad-{bad}")["code"] == 10004
    private = live.client.post("/easy/submit", json={"audio_url": "http://10.0.0.1/a.wav",
                                                     "video_url": "http://10.0.0.1/v.mp4", "code": "ssrf"}).json()
    assert private["code"] == 10002 and "url_refused" in private["msg"]
