"""The service on S3 storage: a real S3-compatible server (moto's) on 127.0.0.1, the same jobs end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from test_end_to_end import upload_audio, upload_template
from tests.support.s3 import CREDENTIALS, moto_server


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    with moto_server(tmp_path) as endpoint:
        yield endpoint


def test_templates_inputs_and_outputs_live_in_the_bucket(make_service, media, short_wav, s3_endpoint) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)
    s3.create_bucket(Bucket="videos")
    service = make_service(workers=1, FACECAST_STORAGE="s3", FACECAST_S3__BUCKET="videos",
                           FACECAST_S3__ENDPOINT_URL=s3_endpoint, FACECAST_S3__REGION="us-east-1",
                           FACECAST_S3__ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
                           FACECAST_S3__SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"]).start()
    assert service.client.get("/readyz").status_code == 200
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
    audio_id = upload_audio(service, short_wav)
    video = service.client.post("/v1/videos", params={"wait": 60}, json={
        "template_id": template_id, "audio_id": audio_id, "render_mode": "parametric", "max_height": 240}).json()
    assert video["status"] == "succeeded", video

    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="videos")["Contents"]}
    assert f"outputs/{video['id']}.mp4" in keys and any(k.startswith(f"templates/{template_id}") for k in keys)
    stored = s3.get_object(Bucket="videos", Key=f"outputs/{video['id']}.mp4")["Body"].read()
    assert len(stored) == video["size_bytes"]
    assert service.client.get(f"/v1/videos/{video['id']}/content").content == stored
    assert not list((service.data_dir / "outputs").glob("*.mp4"))  # nothing kept on the local disk
