"""The mel front end against Wav2Lip's audio.py formulas, evaluated here with librosa (as the original does)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from facecast.engine.neural.mel import MEL_STEP, mel_filterbank, mel_spectrogram, mel_window

librosa = pytest.importorskip("librosa")


def reference_mel(samples: np.ndarray) -> np.ndarray:
    """Wav2Lip's melspectrogram(): hparams num_mels 80, n_fft 800, hop 200, win 800, fmin 55, fmax 7600,
    preemphasis 0.97, ref_level_db 20, min_level_db -100, symmetric clipping to +-4; the librosa 0.7 it pinned
    padded centred frames by reflection."""
    emphasized = lfilter([1, -0.97], [1], samples)
    spectrum = np.abs(librosa.stft(y=emphasized, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect"))
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    decibels = 20 * np.log10(np.maximum(np.exp(-100 / 20 * np.log(10)), basis @ spectrum)) - 20
    return np.clip(8 * ((decibels + 100) / 100) - 4, -4, 4)


def test_filterbank_is_librosas_slaney_filterbank() -> None:
    expected = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    np.testing.assert_allclose(mel_filterbank(), expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("seconds", [0.05, 1.0, 3.3])
def test_spectrogram_matches_the_original_formulas(seconds: float, speech_16k: np.ndarray) -> None:
    samples = np.tile(speech_16k, 2)[: int(16000 * seconds)].astype(np.float32)
    ours, expected = mel_spectrogram(samples), reference_mel(samples.astype(np.float64))
    assert ours.shape == expected.shape == (80, 1 + len(samples) // 200)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=2e-3)


def test_long_audio_is_computed_in_blocks_without_seams(speech_16k: np.ndarray) -> None:
    samples = np.tile(speech_16k, 12)[: 16000 * 60]  # 60 s: 4801 frames, more than one block
    np.testing.assert_allclose(mel_spectrogram(samples), reference_mel(samples.astype(np.float64)), atol=2e-3)


def test_windows_follow_the_original_indexing() -> None:
    mel = np.arange(80 * 90, dtype=np.float32).reshape(80, 90)
    fps = 29.97
    for index in range(40):
        start = int(index * (80.0 / fps))  # Wav2Lip's inference.py: mel_idx_multiplier = 80. / fps
        expected = mel[:, start:start + MEL_STEP] if start + MEL_STEP <= 90 else mel[:, 90 - MEL_STEP:]
        np.testing.assert_array_equal(mel_window(mel, index, fps), expected)
    short = mel_window(mel[:, :5], 0, 25.0)
    assert short.shape == (80, MEL_STEP) and (short[:, 5:] == -4).all()
