"""Monitoring on a real SQLite job store: alert conditions and their rate limit, /metrics, the disk guard."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi.testclient import TestClient

from facecast.service.alerts import evaluate, run_alerts
from facecast.service.app import create_app
from facecast.service.metrics import STAGE_SECONDS
from facecast.service.resources import GpuReading, free_disk_bytes, gpu_readings
from facecast.service.settings import AlertSettings
from tests.support.store import make_store

GIB = 1024 ** 3
HUGE_MB = 10 ** 12  # a free-space threshold no disk meets


def test_quiet_store_raises_no_alert(tmp_path: Path, sun_mp4: Path) -> None:
    store = make_store(tmp_path)
    store.add_video(ended_ago_h=0.01, mp4=sun_mp4)
    store.add_video("failed", ended_ago_h=0.01)
    store.add_video("queued", created_ago_h=0.01)
    assert evaluate(store.settings, store.jobs, gpus=[]) == []


def test_each_condition_fires(tmp_path: Path, sun_mp4: Path) -> None:
    alerts = AlertSettings(failure_rate=0.5, failure_min_jobs=4, failure_window_s=3600, queued_max_s=600,
                           gpu_memory_percent=90)
    store = make_store(tmp_path, alerts=alerts, min_free_disk_mb=HUGE_MB)
    for _ in range(3):
        store.add_video("failed", ended_ago_h=0.1)
    store.add_video(ended_ago_h=0.1, mp4=sun_mp4)
    store.add_video("failed", ended_ago_h=5)  # outside the window: not counted
    store.add_video("queued", created_ago_h=0.5)  # 30 min in the queue, over 10
    gpus = [GpuReading(0, "H200", int(130 * GIB), int(140 * GIB), 97.0), GpuReading(1, "H200", GIB, 140 * GIB, 3.0)]

    found = {alert.kind: alert for alert in evaluate(store.settings, store.jobs, gpus=gpus)}

    assert set(found) == {"disk_low", "gpu_memory_high", "failure_rate", "queue_stalled"}
    assert "3 of 4" in found["failure_rate"].text
    assert "GPU 0" in found["gpu_memory_high"].text and "GPU 1" not in found["gpu_memory_high"].text
    assert "30 min" in found["queue_stalled"].text


def test_failure_rate_needs_enough_jobs(tmp_path: Path) -> None:
    store = make_store(tmp_path, alerts=AlertSettings(failure_min_jobs=4))
    for _ in range(3):
        store.add_video("failed", ended_ago_h=0.01)
    assert evaluate(store.settings, store.jobs, gpus=[]) == []


def test_alerts_are_sent_once_per_repeat_window(tmp_path: Path, caplog) -> None:
    store = make_store(tmp_path, min_free_disk_mb=HUGE_MB, alerts=AlertSettings(repeat_s=3600))
    other_worker = make_store(tmp_path, min_free_disk_mb=HUGE_MB)  # a second process on the same database
    with caplog.at_level(logging.WARNING, logger="facecast.alerts"):
        first = run_alerts(store.settings, store.jobs)
        again = run_alerts(other_worker.settings, other_worker.jobs)
    assert [alert.kind for alert in first] == ["disk_low"] and again == []
    assert [r.getMessage() for r in caplog.records if "ALERT" in r.getMessage()] == [
        f"ALERT {first[0].title}: {first[0].text}"]
    no_limit = make_store(tmp_path, min_free_disk_mb=HUGE_MB, alerts=AlertSettings(repeat_s=0))
    assert [alert.kind for alert in run_alerts(no_limit.settings, no_limit.jobs)] == ["disk_low"]


def test_metrics_show_worker_histograms_queue_and_disk(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for seconds in (0.3, 4.0, 4.5, 7000.0):
        store.jobs.observe(STAGE_SECONDS.name, "rendering", seconds, STAGE_SECONDS.bounds)
    store.jobs.queues.enqueue("vid_waiting")
    client = TestClient(create_app(store.settings.model_copy(update={"allowed_hosts": ["*"]})))

    text = client.get("/metrics").text

    assert 'facecast_stage_seconds_bucket{le="0.5",stage="rendering"} 1.0' in text
    assert 'facecast_stage_seconds_bucket{le="5.0",stage="rendering"} 3.0' in text
    assert 'facecast_stage_seconds_bucket{le="+Inf",stage="rendering"} 4.0' in text
    assert 'facecast_stage_seconds_count{stage="rendering"} 4.0' in text
    assert 'facecast_stage_seconds_sum{stage="rendering"} 7008.8' in text
    assert 'facecast_queue_depth{queue="facecast"} 1.0' in text
    free = next(line for line in text.splitlines() if line.startswith("facecast_disk_free_bytes "))
    assert abs(float(free.split()[1]) - free_disk_bytes(store.settings.data_dir)) < GIB
    assert ("facecast_gpu_memory_used_bytes" in text) == bool(gpu_readings())  # no GPU here: simply absent


def test_low_disk_refuses_new_work_with_507(tmp_path: Path, short_wav: Path) -> None:
    store = make_store(tmp_path, min_free_disk_mb=HUGE_MB, allowed_hosts=["*"])
    client = TestClient(create_app(store.settings))

    with short_wav.open("rb") as handle:
        upload = client.post("/v1/audio", files={"file": ("speech.wav", handle)})
    video = client.post("/v1/videos", json={"template_id": "tpl_x", "audio_id": "aud_x"})
    ready = client.get("/readyz")

    for response in (upload, video):
        assert response.status_code == 507, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "low_disk_space" and "min_free_disk_mb" in response.json()["detail"]
    assert ready.status_code == 503 and "below min_free_disk_mb" in ready.json()["checks"]["disk"]
    assert not list((store.settings.data_dir / "work").glob("*"))  # the refused upload was not kept
    assert client.get("/v1/videos").status_code == 200  # reads still work
