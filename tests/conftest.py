"""Fixtures naming the real media in ../shared/media, and real servers started per test.

The helpers themselves live in tests/support; they are re-exported here so `from tests.conftest import ...`
keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_facecast
from tests.support.media import (
    MEDIA_DIR, frame_level, media_path, pattern_frames, psnr, read_rgb_frames, trim_wav, write_audio,
    write_empty_wav, write_video,
)
from tests.support.server import Service, free_port

__all__ = ["MEDIA_DIR", "Service", "frame_level", "free_port", "media_path", "pattern_frames", "psnr",
           "read_rgb_frames", "run_facecast", "trim_wav", "write_audio", "write_empty_wav", "write_video"]

MEDIA_FIXTURES = {
    "sun_mp4": "sun.mp4", "eng_wav": "eng.wav", "sun_wav": "sun.wav", "talking_man_mp4": "talking_man_480.mp4",
    "talking_woman_mp4": "talking_woman_480.mp4", "fullbody_mp4": "fullbody_small_face.mp4",
    "portrait_jpg": "portrait.jpg",
}


def _media_fixture(fixture_name: str, file_name: str) -> Callable[[], Path]:
    @pytest.fixture(scope="session", name=fixture_name)
    def fixture() -> Path:
        return media_path(file_name)

    return fixture


for _fixture_name, _file_name in MEDIA_FIXTURES.items():
    globals()[_fixture_name] = _media_fixture(_fixture_name, _file_name)


@pytest.fixture
def media() -> Path:
    """The shared media folder, for tests that name files in it."""
    media_path("eng.wav")
    return MEDIA_DIR


@pytest.fixture
def short_wav(tmp_path: Path, eng_wav: Path) -> Path:
    return trim_wav(eng_wav, tmp_path / "speech.wav", 2.5)


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Build a `Service` (not yet started) in tmp_path; every one built is stopped after the test."""
    started: list[Service] = []

    def factory(workers: int = 1, data_dir: Path | None = None, **env: str) -> Service:
        service = Service(data_dir or tmp_path / "data", {k.upper(): v for k, v in env.items()}, workers)
        started.append(service)
        return service

    yield factory
    for service in started:
        service.stop()
