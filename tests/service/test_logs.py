"""JSON-lines logs from a real server and worker: request ids from X-Request-ID, job ids, rotation."""

from __future__ import annotations

import json
from pathlib import Path


def _lines(data_dir: Path) -> list[dict]:
    files = sorted((data_dir / "logs").glob("facecast.log*"))
    assert files, "no log file written"
    return [json.loads(line) for path in files for line in path.read_text().splitlines() if line.strip()]


def test_json_logs_carry_request_and_job_ids(make_service, media: Path) -> None:
    service = make_service(workers=1, FACECAST_LOGS__FORMAT="json", FACECAST_LOGS__MAX_BYTES="8000",
                           FACECAST_LOGS__BACKUPS="20").start()
    with (media / "talking_man_480.mp4").open("rb") as handle:
        response = service.client.post("/v1/templates", files={"file": ("man.mp4", handle)}, data={"name": "man"},
                                       headers={"X-Request-ID": "req-test-42"})
    assert response.status_code == 202, response.text
    assert response.headers["x-request-id"] == "req-test-42"
    generated = service.client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32  # none given: one is made
    template = service.wait_for(f"/v1/templates/{response.json()['id']}", {"ready", "failed"})
    assert template["status"] == "ready"
    odd = service.client.get("/v1/videos", headers={"X-Request-ID": "a \"quoted\" {id}"})
    assert odd.headers["x-request-id"] != 'a "quoted" {id}' and len(odd.headers["x-request-id"]) == 32
    for _ in range(60):  # enough request lines to rotate the file a few times
        service.client.get("/healthz")

    lines = _lines(service.data_dir)  # every line of every rotated file parses as JSON
    assert (service.data_dir / "logs" / "facecast.log.1").is_file()  # rotated at 8000 bytes; 20 old files kept
    mine = [line for line in lines if line.get("request_id") == "req-test-42"]
    assert any(line.get("path") == "/v1/templates" and line.get("status") == 202 for line in mine)
    queued = [line for line in mine if "status=queued" in line["message"]]
    assert queued and queued[0]["job_id"].startswith("prp_")
    job_id = queued[0]["job_id"]
    worker_lines = [line for line in lines if line.get("job_id") == job_id and line["process"] != queued[0]["process"]]
    assert any("status=processing" in line["message"] for line in worker_lines)
    assert any("status=succeeded" in line["message"] for line in worker_lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_text_logs_have_no_line_per_request(make_service) -> None:
    service = make_service(workers=0).start()  # text is the default format
    for _ in range(3):
        assert service.client.get("/healthz").status_code == 200
    assert "facecast.http" not in (service.data_dir / "logs" / "facecast.log").read_text()
