"""The server every web UI test module drives: a real `facecast serve` with one worker, one per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import Service, serving


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from serving(tmp_path_factory.mktemp("webui") / "data", workers=1)


@pytest.fixture(scope="module")
def ui(service: Service) -> Iterator[Any]:
    """gradio_client on the module's server; closed at the end, since its heartbeat would hold the server open."""
    client = pytest.importorskip("gradio_client").Client(f"{service.url}/ui/", verbose=False)
    try:
        yield client
    finally:
        client.close()
