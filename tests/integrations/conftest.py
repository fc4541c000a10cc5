"""One facecast server (with an API key and a worker) shared by the integration tests of a module."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "dify-test-key"

_spec = importlib.util.spec_from_file_location("facecast_service_testkit", ROOT / "tests" / "service" / "conftest.py")
service_testkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(service_testkit)  # type: ignore[union-attr]
Service, trim_wav, MEDIA = service_testkit.Service, service_testkit.trim_wav, service_testkit.MEDIA


class Live:
    """A running server, an authenticated client, a ready template named presenter and a short speech."""

    def __init__(self, service, client: httpx.Client, template_id: str, speech: Path) -> None:
        self.service, self.client, self.template_id, self.speech = service, client, template_id, speech
        self.url = service.url
        self.data_dir: Path = service.data_dir
        self.api_key = API_KEY

    def wait(self, path: str, timeout_s: float = 240) -> dict:
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.client.get(path, params={"wait": 10}).json()
            if body["status"] in ("succeeded", "failed", "canceled"):
                return body
        raise AssertionError(f"{path} did not end within {timeout_s} s")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    assert MEDIA.is_dir(), f"test media missing: {MEDIA}"
    root = tmp_path_factory.mktemp("dify")
    service = Service(root / "data", {"FACECAST_API_KEYS": f'["{API_KEY}"]'}, workers=1).start()
    client = httpx.Client(base_url=service.url, timeout=90.0, headers={"Authorization": f"Bearer {API_KEY}"})
    try:
        with (MEDIA / "talking_man_480.mp4").open("rb") as handle:
            created = client.post("/v1/templates", files={"file": ("man.mp4", handle)}, data={"name": "presenter"})
        assert created.status_code == 202, created.text
        template_id = created.json()["id"]
        import time

        deadline = time.monotonic() + 240
        while client.get(f"/v1/templates/{template_id}").json()["status"] == "preparing":
            assert time.monotonic() < deadline, "template did not become ready"
            time.sleep(0.5)
        assert client.get(f"/v1/templates/{template_id}").json()["status"] == "ready"
        speech = trim_wav(MEDIA / "eng.wav", root / "speech.wav", 2.0)
        yield Live(service, client, template_id, speech)
    finally:
        client.close()
        service.stop()
