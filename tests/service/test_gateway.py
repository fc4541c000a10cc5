"""The HeyGem-style batch gateway through a real server and worker: URLs in, a callback with video URLs out."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tests.service.test_end_to_end import local_http  # noqa: F401  (fixture: files and a webhook receiver)


def _wait_for_post(posts: list, timeout_s: float = 30) -> tuple[dict[str, str], bytes]:
    deadline = time.monotonic() + timeout_s
    while not posts and time.monotonic() < deadline:
        time.sleep(0.2)
    assert posts, "no callback arrived"
    return posts[0]


def test_generate_batch_calls_back_with_video_urls(make_service, media: Path, short_wav: Path,
                                                   local_http) -> None:  # noqa: F811
    base, root, posts = local_http
    shutil.copyfile(media / "talking_man_480.mp4", root / "man.mp4")
    shutil.copyfile(short_wav, root / "speech.wav")
    service = make_service(workers=1).start()

    created = service.client.post("/api/v1/generate-batch", json={
        "audio_url": f"{base}/speech.wav", "video_templates": [f"{base}/man.mp4", f"{base}/man.mp4"],
        "callback_url": f"{base}/hook"})
    assert created.status_code == 202, created.text
    task_id = created.json()["task_id"]
    assert created.json()["status"] == "processing"

    _, body = _wait_for_post(posts, timeout_s=300)
    callback = json.loads(body)
    assert callback["task_id"] == task_id and callback["status"] == "completed", callback
    assert len(callback["result"]) == 2 and all(url.startswith(service.url) for url in callback["result"])
    assert service.client.get(f"/api/v1/task/{task_id}").json() == callback
    for url in callback["result"]:
        assert service.client.get(url).content[4:8] == b"ftyp"
    templates = service.client.get("/v1/templates").json()["data"]
    assert len(templates) == 1  # the same URL twice is fetched once


def test_generate_batch_reports_a_template_that_cannot_be_fetched(make_service, short_wav: Path,
                                                                  local_http) -> None:  # noqa: F811
    base, root, posts = local_http
    shutil.copyfile(short_wav, root / "speech.wav")
    service = make_service(workers=1).start()
    created = service.client.post("/api/v1/generate-batch", json={
        "audio_url": f"{base}/speech.wav", "video_templates": [f"{base}/missing.mp4"], "callback_url": f"{base}/cb"})
    task_id = created.json()["task_id"]
    _, body = _wait_for_post(posts, timeout_s=120)
    callback = json.loads(body)
    assert callback["task_id"] == task_id and callback["status"] == "failed" and callback["error"], callback
    assert callback["result"] == [None]  # one entry per template, null where its video did not succeed
    assert service.client.get(f"/api/v1/task/{task_id}").json()["status"] == "failed"


def test_gateway_refuses_before_creating_anything(make_service) -> None:
    service = make_service(workers=0).start()
    refused = service.client.post("/api/v1/generate-batch", json={
        "audio_url": "http://127.0.0.1:9/a.wav",
        "video_templates": ["http://127.0.0.1:9/a.mp4", "http://10.1.2.3/b.mp4"]})
    assert refused.status_code == 422 and refused.json()["code"] == "url_refused", refused.text
    assert service.client.get("/v1/templates").json()["data"] == []
    empty = service.client.post("/api/v1/generate-batch", json={"audio_url": "http://127.0.0.1:9/a.wav",
                                                                "video_templates": []})
    assert empty.status_code == 422
    missing = service.client.get("/api/v1/task/task_0123456789abcdef0123")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
