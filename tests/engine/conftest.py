"""The talking man clip prepared once per session: its frames, tracks and cache, shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facecast.engine.pipeline import prepare_template
from facecast.engine.results import PreparedTemplate
from facecast.engine.speech import ANALYSIS_RATE
from facecast.engine.media import load_audio
from facecast.engine.tracking import Tracks
from tests.support.media import read_rgb_frames

SPEECH_S = (3.0, 6.0)  # eng.wav: 3 s of silence, then speech


@pytest.fixture(scope="session")
def man_prepared(talking_man_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedTemplate:
    return prepare_template(talking_man_mp4, cache_dir=tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="session")
def man_tracks(man_prepared: PreparedTemplate) -> Tracks:
    return Tracks.load(man_prepared.cache_path / "tracks.npz")


@pytest.fixture(scope="session")
def man_frames(talking_man_mp4: Path) -> list[np.ndarray]:
    return read_rgb_frames(talking_man_mp4)


@pytest.fixture(scope="session")
def speech_16k(eng_wav: Path) -> np.ndarray:
    """Three seconds of real speech from eng.wav, 16 kHz mono float32."""
    samples = load_audio(eng_wav).samples
    return samples[int(SPEECH_S[0] * ANALYSIS_RATE):int(SPEECH_S[1] * ANALYSIS_RATE)]


def quiet(seconds: float) -> np.ndarray:
    """Room-tone stand-in: faint noise (-60 dBFS) well below speech."""
    count = int(seconds * ANALYSIS_RATE)
    return np.random.default_rng(0).normal(0, 1e-3, count).astype(np.float32)
