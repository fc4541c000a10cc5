"""Wav2Lip's audio front end, reproduced with numpy and scipy (no librosa at run time).

The network was trained on these exact features (Wav2Lip's audio.py and hparams.py): a pre-emphasised 16 kHz
signal, a centred STFT (reflect padding, periodic Hann window), a Slaney-style mel filterbank, decibels relative
to 20 dB and scaled symmetrically to [-4, 4]. Any other front end makes the mouth lag or mumble.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import get_window, lfilter

SAMPLE_RATE = 16_000
N_FFT = 800
HOP = 200           # 12.5 ms: 80 mel frames per second
WINDOW = 800
MEL_BANDS = 80
FMIN_HZ = 55.0
FMAX_HZ = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
MEL_STEP = 16       # mel frames per video frame's window (0.2 s)
MEL_FRAMES_PER_S = SAMPLE_RATE / HOP
_BLOCK_FRAMES = 4096  # STFT frames per block: a long recording is never held as one complex spectrogram


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Normalised log-mel spectrogram of 16 kHz mono audio: float32 [80, 1 + len // 200], values in [-4, 4]."""
    emphasized = lfilter([1.0, -PREEMPHASIS], [1.0], np.asarray(samples, dtype=np.float64))
    # Centred frames as librosa.stft(center=True) in the librosa Wav2Lip was trained with (reflect padding).
    mode = "reflect" if emphasized.size > N_FFT // 2 else "constant"
    padded = np.pad(emphasized, N_FFT // 2, mode=mode)
    frames = sliding_window_view(padded, N_FFT)[::HOP]  # a view: no copy of the signal per frame
    window = get_window("hann", WINDOW, fftbins=True)
    basis = mel_filterbank()
    min_amplitude = 10.0 ** (MIN_LEVEL_DB / 20.0)
    out = np.empty((MEL_BANDS, len(frames)), np.float32)
    for start in range(0, len(frames), _BLOCK_FRAMES):
        magnitude = np.abs(np.fft.rfft(frames[start:start + _BLOCK_FRAMES] * window, axis=1))
        decibels = 20.0 * np.log10(np.maximum(min_amplitude, basis @ magnitude.T)) - REF_LEVEL_DB
        scaled = 2.0 * MAX_ABS_VALUE * (decibels - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
        out[:, start:start + _BLOCK_FRAMES] = np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE)
    return out


def mel_filterbank() -> np.ndarray:
    """Triangular filters on the Slaney mel scale, area-normalised: float64 [80, 401] (librosa's default)."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2.0, 1 + N_FFT // 2)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(FMIN_HZ), _hz_to_mel(FMAX_HZ), MEL_BANDS + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]


_LINEAR_HZ_PER_MEL = 200.0 / 3.0   # Slaney: linear below 1 kHz ...
_LOG_START_HZ = 1000.0
_LOG_STEP = np.log(6.4) / 27.0     # ... and logarithmic above
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_HZ_PER_MEL


def _hz_to_mel(hz: float) -> float:
    if hz < _LOG_START_HZ:
        return hz / _LINEAR_HZ_PER_MEL
    return _LOG_START_MEL + float(np.log(hz / _LOG_START_HZ)) / _LOG_STEP


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    linear = mels * _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_HZ * np.exp(_LOG_STEP * (mels - _LOG_START_MEL))
    return np.where(mels >= _LOG_START_MEL, logarithmic, linear)


def mel_window(mel: np.ndarray, frame_index: int, fps: float) -> np.ndarray:
    """The 80 x 16 mel window for video frame `frame_index`: from int(i * 80 / fps), the last 16 past the end."""
    if mel.shape[1] < MEL_STEP:  # under 0.2 s of audio: pad with silence
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-MAX_ABS_VALUE)
    step = MEL_FRAMES_PER_S / fps  # computed first, as the original does: the same rounding at every index
    start = min(int(frame_index * step), mel.shape[1] - MEL_STEP)
    return mel[:, start:start + MEL_STEP]
