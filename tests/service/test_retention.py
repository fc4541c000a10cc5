"""Retention on a real SQLite job store and local storage: files go, rows are marked, reads answer 410."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from facecast.service.app import create_app
from facecast.service.db.models import Audio, Job, Template
from facecast.service.retention import expire_once
from facecast.service.settings import RetentionSettings
from facecast.service.tenants import SYSTEM
from facecast.service.worker import run_worker
from tests.support.store import make_store


def test_old_outputs_and_uploads_expire_once(tmp_path: Path, sun_mp4: Path, short_wav: Path) -> None:
    store = make_store(tmp_path)
    old = store.add_video(ended_ago_h=30, mp4=sun_mp4)
    fresh = store.add_video(ended_ago_h=1, mp4=sun_mp4)
    old_audio = store.add_audio(short_wav, uploaded_ago_h=50)
    busy_audio = store.add_audio(short_wav, uploaded_ago_h=50)
    store.add_video("queued", created_ago_h=49, audio_id=busy_audio.id)  # a queued job still needs its audio
    retention = RetentionSettings(outputs_h=24, inputs_h=48)

    first = expire_once(store.jobs, store.library, retention)

    assert first.outputs == [old.id] and first.inputs == [old_audio.id]
    outputs = store.settings.data_dir / "outputs"
    assert not (outputs / f"{old.id}.mp4").exists() and not (outputs / f"{old.id}.jpg").exists()
    assert (outputs / f"{fresh.id}.mp4").is_file()
    assert not store.storage.exists(old_audio.key) and store.storage.exists(busy_audio.key)
    with store.jobs.db.session() as session:
        assert session.get(Job, old.id).expired_at is not None and session.get(Job, fresh.id).expired_at is None
        assert session.get(Audio, old_audio.id).expired_at is not None
    second = expire_once(store.jobs, store.library, retention)  # another worker's pass finds nothing left
    assert second.outputs == [] and second.inputs == []
    kept = expire_once(store.jobs, store.library, RetentionSettings(outputs_h=0, inputs_h=None))
    assert kept.outputs == [] and (outputs / f"{fresh.id}.mp4").is_file()


def test_expired_video_answers_410_and_says_so(tmp_path: Path, sun_mp4: Path, short_wav: Path) -> None:
    store = make_store(tmp_path)
    old = store.add_video(ended_ago_h=30, mp4=sun_mp4)
    fresh = store.add_video(ended_ago_h=1, mp4=sun_mp4)
    audio = store.add_audio(short_wav, uploaded_ago_h=50)
    expire_once(store.jobs, store.library, RetentionSettings(outputs_h=24, inputs_h=48))
    client = TestClient(create_app(store.settings.model_copy(update={"allowed_hosts": ["*"]})))

    body = client.get(f"/v1/videos/{old.id}").json()
    assert body["status"] == "succeeded" and body["expired_at"] and body["video_url"] is None
    for path in ("content", "thumbnail"):
        response = client.get(f"/v1/videos/{old.id}/{path}")
        assert response.status_code == 410, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "expired" and "retention" in response.json()["detail"]
    assert client.get(f"/v1/videos/{fresh.id}").json()["expired_at"] is None
    assert client.get(f"/v1/videos/{fresh.id}/content").content[4:8] == b"ftyp"
    assert client.get(f"/v1/audio/{audio.id}").json()["expired_at"]
    with store.jobs.db.session() as session:
        session.add(Template(id="tpl_x", owner="default", name="x", status="ready", source_key="templates/x.mp4"))
    refused = client.post("/v1/videos", json={"template_id": "tpl_x", "audio_id": audio.id})
    assert refused.status_code == 410 and refused.json()["code"] == "expired", refused.text


def test_worker_expires_on_its_timer(tmp_path: Path, sun_mp4: Path) -> None:
    store = make_store(tmp_path)
    old = store.add_video(ended_ago_h=2, mp4=sun_mp4)
    settings = store.settings.model_copy(update={
        "retention": RetentionSettings(outputs_h=1, interval_s=1),
        "worker": store.settings.worker.model_copy(update={"nice": 0, "lease_s": 3, "sweep_interval_s": 1})})
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(settings,), kwargs={"stop": stop, "handle_signals": False})
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while store.storage.exists(f"outputs/{old.id}.mp4") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not store.storage.exists(f"outputs/{old.id}.mp4")
    assert store.jobs.get(SYSTEM, old.id).expired_at is not None
