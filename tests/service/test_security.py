"""Hostile requests against a real server on 127.0.0.1: the server stays up and answers each with a problem."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest

pytestmark = pytest.mark.security


def assert_alive(service) -> None:
    started = time.monotonic()
    response = httpx.get(f"{service.url}/healthz", timeout=1.0)
    assert response.status_code == 200 and time.monotonic() - started < 1.0
    assert service.api.poll() is None, "the API process died"


@pytest.mark.parametrize("voice", [
    "espeak:en-us+" + "A" * 37,          # overran espeak's 40-byte variant buffer and aborted the process
    "espeak:en-us+" + "f2" * 100,
    "espeak:en-us+no-such-variant",
    "espeak:" + "x" * 300,
])
def test_voice_names_that_espeak_cannot_hold_are_refused_and_the_server_lives(make_service, voice: str) -> None:
    service = make_service(workers=0).start()
    preview = service.client.get(f"/v1/voices/{quote(voice, safe=':')}/preview")
    assert preview.status_code == 404, preview.text
    assert preview.headers["content-type"].startswith("application/problem+json")
    assert preview.json()["code"] == "unknown_voice"
    job = service.client.post("/v1/videos", json={"template_id": "tpl_missing", "text": "Hello.", "voice": voice})
    assert job.status_code == 422 and job.json()["code"] in {"unknown_voice", "invalid_request"}, job.text
    assert_alive(service)


def test_a_listed_variant_still_previews_from_a_child_process(make_service) -> None:
    service = make_service(workers=0).start()
    preview = service.client.get("/v1/voices/espeak:en-us+f2/preview")
    assert preview.status_code == 200, preview.text
    assert preview.content[:4] == b"RIFF" and len(preview.content) > 20_000
    assert service.client.get("/v1/voices/espeak:en-us+Andy/preview").status_code == 200
    assert_alive(service)
