"""The lip-sync gate through a real server and worker: figures in the job body and the webhook, the review flag,
and quality_action=fail ending the job with low_sync_quality."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.service.test_end_to_end import local_http, upload_audio, upload_template  # noqa: F401 (a fixture)
from tests.support.media import trim_wav


def test_video_body_and_webhook_carry_quality_and_the_flag(make_service, media: Path, tmp_path: Path,
                                                            local_http) -> None:  # noqa: F811
    base, _, posts = local_http
    service = make_service(workers=1).start()
    template_id = upload_template(service, media / "sun.mp4", "sun")
    assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
    audio_id = upload_audio(service, trim_wav(media / "eng.wav", tmp_path / "speech.wav", 6.0))
    jobs = {name: service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id, **body})
            for name, body in {"good": {"callback_url": f"{base}/hook"},
                               "flagged": {"min_sync_r": 1.0},
                               "failed": {"min_sync_r": 1.0, "quality_action": "fail"}}.items()}
    done = {name: service.wait_for(f"/v1/videos/{response.json()['id']}", {"succeeded", "failed"}, 300)
            for name, response in jobs.items()}

    good = done["good"]
    assert good["status"] == "succeeded" and good["needs_review"] is False, good
    assert good["quality"]["passed"] and good["quality"]["sync_r"] > 0.8 and good["quality"]["frames_measured"] > 0
    assert good["quality"]["cost_ratio"] > 0

    flagged = done["flagged"]
    assert flagged["status"] == "succeeded" and flagged["needs_review"] is True and flagged["video_url"]
    assert flagged["quality"]["needs_review"] and flagged["quality"]["min_sync_r"] == 1.0

    failed = done["failed"]
    assert failed["status"] == "failed" and failed["error_code"] == "low_sync_quality", failed
    assert failed["quality"] is None and failed["video_url"] is None
    assert not (service.data_dir / "outputs" / f"{failed['id']}.mp4").exists()

    for _ in range(50):
        if posts:
            break
        threading.Event().wait(0.1)
    event = json.loads(posts[0][1])
    assert event["type"] == "video.succeeded" and event["data"]["quality"] == good["quality"]
    assert event["data"]["needs_review"] is False
