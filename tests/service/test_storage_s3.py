"""Presigned result URLs on two real S3-compatible servers (moto's and SeaweedFS), fetched with plain httpx."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from facecast.service.settings import S3Settings, Settings
from facecast.service.storage import S3Storage
from test_end_to_end import upload_audio, upload_template
from tests.support.s3 import ACCESS_KEY, CREDENTIALS, REGION, SECRET_KEY, moto_server, seaweedfs_server

SERVERS = {"moto": moto_server, "seaweedfs": seaweedfs_server}


@pytest.fixture(params=sorted(SERVERS))
def server(request, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(name, endpoint URL) of a running S3-compatible server."""
    with SERVERS[request.param](tmp_path) as url:
        yield request.param, url


def _bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket=name)


def _settings(tmp_path: Path, endpoint: str, expiry_s: int) -> Settings:
    return Settings(data_dir=tmp_path / "data", storage="s3", s3=S3Settings(
        bucket="results", endpoint_url=endpoint, region=REGION, access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY, url_expiry_s=expiry_s))


def test_presigned_url_serves_the_stored_mp4(server: tuple[str, str], tmp_path: Path, sun_mp4: Path) -> None:
    name, endpoint = server
    _bucket(endpoint, "results")
    storage = S3Storage(_settings(tmp_path, endpoint, 600))
    staged = tmp_path / "out.mp4"
    shutil.copyfile(sun_mp4, staged)
    storage.put("outputs/vid_1.mp4", staged)

    url = storage.presigned_url("outputs/vid_1.mp4")

    assert url and url.startswith(endpoint) and parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["600"]
    body = httpx.get(url, timeout=30).content
    assert body == sun_mp4.read_bytes() and body[4:8] == b"ftyp"
    if name == "seaweedfs":  # moto's server does not check signatures
        assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=30).status_code == 403
    assert S3Storage(_settings(tmp_path, endpoint, 0)).presigned_url("outputs/vid_1.mp4") is None


def test_video_urls_are_presigned_per_read(make_service, media: Path, short_wav: Path, tmp_path: Path) -> None:
    with seaweedfs_server(tmp_path) as endpoint:
        _bucket(endpoint, "videos")
        service = make_service(workers=1, FACECAST_STORAGE="s3", FACECAST_S3__BUCKET="videos",
                               FACECAST_S3__ENDPOINT_URL=endpoint, FACECAST_S3__REGION=REGION,
                               FACECAST_S3__ACCESS_KEY_ID=ACCESS_KEY, FACECAST_S3__SECRET_ACCESS_KEY=SECRET_KEY,
                               FACECAST_S3__URL_EXPIRY_S="900").start()
        template_id = upload_template(service, media / "talking_man_480.mp4", "man")
        assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
        video = service.client.post("/v1/videos", params={"wait": 60}, json={
            "template_id": template_id, "audio_id": upload_audio(service, short_wav),
            "render_mode": "parametric", "max_height": 240}).json()
        assert video["status"] == "succeeded", video

        url = video["video_url"]
        assert url.startswith(f"{endpoint}/videos/outputs/{video['id']}.mp4?")
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["900"]
        body = httpx.get(url, timeout=30).content
        assert len(body) == video["size_bytes"] and body[4:8] == b"ftyp"
        assert httpx.get(video["thumbnail_url"], timeout=30).content[:2] == b"\xff\xd8"
        time.sleep(1.1)  # signatures carry the signing time in seconds
        again = service.client.get(f"/v1/videos/{video['id']}").json()["video_url"]
        assert again != url and httpx.get(again, timeout=30).content == body
        metrics = service.client.get("/metrics").text
        assert 'facecast_stage_seconds_count{stage="rendering"} 1.0' in metrics
        assert "facecast_realtime_factor_count 1.0" in metrics
