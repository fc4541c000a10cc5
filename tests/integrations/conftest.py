"""One facecast server (with an API key and a worker) shared by the integration tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.media import media_path, trim_wav
from tests.support.server import Service

API_KEY = "dify-test-key"
ENDED = {"succeeded", "failed", "canceled"}


class Live:
    """A running server, an authenticated client, a ready template named presenter and a short speech."""

    def __init__(self, service: Service, template_id: str, speech: Path) -> None:
        self.service, self.template_id, self.speech = service, template_id, speech
        self.client: httpx.Client = service.client
        self.url = service.url
        self.data_dir: Path = service.data_dir
        self.api_key = API_KEY

    def wait(self, path: str, timeout_s: float = 240) -> dict:
        return self.service.wait_for(path, ENDED, timeout_s)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("dify")
    service = Service(root / "data", {}, workers=1, api_key=API_KEY).start()
    try:
        with media_path("talking_man_480.mp4").open("rb") as handle:
            created = service.client.post("/v1/templates", files={"file": ("man.mp4", handle)},
                                          data={"name": "presenter"})
        assert created.status_code == 202, created.text
        template_id = created.json()["id"]
        template = service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"}, 240)
        assert template["status"] == "ready", template
        speech = trim_wav(media_path("eng.wav"), root / "speech.wav", 2.0)
        yield Live(service, template_id, speech)
    finally:
        service.stop()
