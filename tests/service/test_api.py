"""The HTTP contract against a real server on 127.0.0.1 with no workers: jobs stay queued, nothing runs."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest


def _walk(node: object, found: list[str], where: str = "") -> None:
    if isinstance(node, dict):
        if isinstance(node.get("type"), list):
            found.append(where)
        for key, value in node.items():
            _walk(value, found, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, found, f"{where}/{index}")


@pytest.fixture
def api(make_service):
    return make_service(workers=0, FACECAST_MAX_UPLOAD_BYTES=str(3_000_000)).start()


@pytest.fixture
def template_id(api, media: Path) -> str:
    with (media / "talking_man_480.mp4").open("rb") as handle:
        response = api.client.post("/v1/templates", files={"file": ("../../etc/passwd.mp4", handle)},
                                   data={"name": "man"})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_openapi_is_tool_friendly(api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert schema["servers"] and schema["servers"][0]["url"] == api.url
    operations = [op for path in schema["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) and all(op.get("description") for op in operations)
    assert {"create_video", "get_video", "list_videos", "create_batch", "list_templates", "upload_audio"} <= set(ids)
    type_arrays: list[str] = []
    _walk(schema, type_arrays)
    assert type_arrays == []
    for name in ("VideoCreate", "BatchCreate", "VideoPublic", "TemplatePublic"):
        props = schema["components"]["schemas"][name]["properties"]
        assert all("description" in p for p in props.values()), name


def test_template_upload_is_stored_under_our_name(api, template_id: str) -> None:
    body = api.client.get(f"/v1/templates/{template_id}").json()
    assert body["status"] == "preparing" and body["name"] == "man"
    stored = sorted(p.name for p in (api.data_dir / "templates").iterdir())
    assert stored == [f"{template_id}.mp4"]  # the client's filename never reaches the disk
    assert not list(api.data_dir.glob("**/passwd*"))
    renamed = api.client.patch(f"/v1/templates/{template_id}", json={"name": "renamed"}).json()
    assert renamed["name"] == "renamed"
    listing = api.client.get("/v1/templates", params={"status": "preparing"}).json()
    assert [t["id"] for t in listing["data"]] == [template_id]


def test_problems_have_codes(api, tmp_path: Path) -> None:
    missing = api.client.get("/v1/videos/vid_nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    invalid = api.client.post("/v1/videos", json={"template_id": "tpl_x"})
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_request"
    assert "audio_id or audio_url" in invalid.json()["detail"]
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all " * 10)
    with text.open("rb") as handle:
        bad = api.client.post("/v1/templates", files={"file": ("notes.mp4", handle)})
    assert bad.status_code == 415 and bad.json()["code"] == "unsupported_media"
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 3_100_000)
    with big.open("rb") as handle:
        too_big = api.client.post("/v1/audio", files={"file": ("big.wav", handle)})
    assert too_big.status_code == 413 and too_big.json()["code"] == "upload_too_large"
    assert not [p for p in (api.data_dir / "work").iterdir()]  # the partial upload was removed


@pytest.mark.parametrize("url,code", [
    ("http://10.1.2.3/a.wav", "url_refused"),
    ("http://169.254.169.254/latest/meta-data", "url_refused"),
    ("http://[::1]:9/a.wav", "url_refused"),
    ("file:///etc/passwd", "url_refused"),
    ("ftp://example.com/a.mp4", "url_refused"),
])
def test_url_inputs_refuse_private_addresses(api, url: str, code: str) -> None:
    response = api.client.post("/v1/templates/from_url", json={"source_url": url})
    assert response.status_code == 422 and response.json()["code"] == code, response.text


def test_video_lifecycle_while_queued(api, template_id: str, short_wav: Path) -> None:
    with short_wav.open("rb") as handle:
        audio = api.client.post("/v1/audio", files={"file": ("speech.wav", handle)})
    assert audio.status_code == 201, audio.text
    assert abs(audio.json()["duration_s"] - 2.5) < 0.05
    body = {"template_id": template_id, "audio_id": audio.json()["id"], "metadata": {"order": 7}, "crf": 28}
    created = api.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
    assert created.status_code == 202
    assert created.headers["location"] == f"/v1/videos/{created.json()['id']}"
    assert int(created.headers["retry-after"]) > 0
    video = created.json()
    assert video["status"] == "queued" and video["metadata"] == {"order": 7}

    again = api.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
    assert again.json()["id"] == video["id"]
    conflict = api.client.post("/v1/videos", json={**body, "crf": 30}, headers={"Idempotency-Key": "k1"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"

    started = time.monotonic()
    waited = api.client.get(f"/v1/videos/{video['id']}", params={"wait": 1})
    assert 0.9 < time.monotonic() - started < 5 and waited.json()["status"] == "queued"

    not_ready = api.client.get(f"/v1/videos/{video['id']}/content")
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "invalid_state"
    assert api.client.delete(f"/v1/videos/{video['id']}").status_code == 409  # still queued

    ids = [api.client.post("/v1/videos", json={**body, "metadata": {"order": i}}).json()["id"] for i in range(4)]
    page1 = api.client.get("/v1/videos", params={"limit": 3}).json()
    page2 = api.client.get("/v1/videos", params={"limit": 3, "cursor": page1["next_cursor"]}).json()
    assert [v["id"] for v in page1["data"] + page2["data"]] == ids[::-1] + [video["id"]]
    assert page2["next_cursor"] is None

    canceled = api.client.post(f"/v1/videos/{video['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    only_canceled = api.client.get("/v1/videos", params={"status": "canceled"}).json()
    assert [v["id"] for v in only_canceled["data"]] == [video["id"]]
    assert api.client.delete(f"/v1/videos/{video['id']}").status_code == 204
    assert api.client.get(f"/v1/videos/{video['id']}").status_code == 404
    log = (api.data_dir / "logs" / "facecast.log").read_text()
    assert f"job={video['id']} status=queued" in log and f"job={video['id']} status=canceled" in log


def test_api_keys_when_configured(make_service) -> None:
    api = make_service(workers=0, FACECAST_API_KEYS='["s3cret"]').start()
    assert api.client.get("/v1/templates").status_code == 401
    assert api.client.get("/v1/templates", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert api.client.get("/v1/templates", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert api.client.get("/v1/templates", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_health_readiness_and_metrics(api) -> None:
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ok" and {"database", "queue", "storage", "disk"} <= set(ready["checks"])
    api.client.get("/v1/templates")
    metrics = api.client.get("/metrics").text
    assert 'facecast_http_requests_total{method="GET",route="/v1/templates",status="200"}' in metrics
    full = httpx.get(f"{api.url}/readyz")
    assert full.status_code == 200
