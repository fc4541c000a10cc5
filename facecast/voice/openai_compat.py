"""Voices from any server speaking the OpenAI `POST /v1/audio/speech` protocol.

Local CosyVoice, fish-speech and similar servers are usually exposed this way. Such servers return audio
only: phoneme timings stay empty (the engine falls back to audio analysis) and word times are spread over
the audio in proportion to word length, which is enough for subtitles.
"""

from __future__ import annotations

import io
import logging

import numpy as np

from facecast.engine.errors import BackendUnavailableError
from facecast.engine.speech_types import AudioClip

from .clips import shift_pitch, spread_words
from .errors import TTSFailedError, TTSUnreachableError
from .options import OpenAIServerConfig, SynthesisOptions, VoiceConfig, VoiceInfo

log = logging.getLogger("facecast.voice.openai")

_MIN_SPEED, _MAX_SPEED = 0.25, 4.0  # the protocol's range for `speed`


def list_voices(config: VoiceConfig) -> list[VoiceInfo]:
    return [_info(server, voice) for server in config.openai for voice in server.voices]


def _info(server: OpenAIServerConfig, voice: str) -> VoiceInfo:
    return VoiceInfo(f"openai:{server.name}/{voice}", "openai", server.language, None, f"{voice} on {server.name}")


def get_voice(name: str, config: VoiceConfig) -> OpenAIVoice | None:
    """`<server>/<voice>`; a voice the server was not configured with is still tried (servers add voices)."""
    server_name, _, voice = name.partition("/")
    for server in config.openai:
        if server.name == server_name and voice:
            return OpenAIVoice(server, voice)
    return None


class OpenAIVoice:
    """One voice on an OpenAI-compatible speech server."""

    def __init__(self, server: OpenAIServerConfig, voice: str) -> None:
        self.server = server
        self.voice = voice
        self.info = _info(server, voice)

    def synthesize(self, text: str, options: SynthesisOptions) -> AudioClip:
        # The protocol has no pitch: ask for slower speech, then resample up (see shift_pitch).
        factor = 2.0 ** (options.pitch / 12.0)
        speed = min(_MAX_SPEED, max(_MIN_SPEED, options.rate / factor))
        body = {"model": self.server.model, "voice": self.voice, "input": text, "response_format": "wav", "speed": speed}
        samples, sample_rate = _decode(self._post(body), self.info.id)
        clip = AudioClip(samples, sample_rate, [], spread_words(text, len(samples) / sample_rate))
        return shift_pitch(clip, options.pitch)

    def _post(self, body: dict) -> bytes:
        try:
            import httpx
        except ImportError as exc:
            raise BackendUnavailableError("OpenAI-compatible voices require httpx; pip install httpx") from exc
        url = self.server.base_url.rstrip("/") + "/audio/speech"
        headers = {"Authorization": f"Bearer {self.server.api_key}"} if self.server.api_key else {}
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=self.server.timeout_s)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise TTSUnreachableError(
                f"speech server {self.server.name} at {_without_credentials(url)} is unreachable ({type(exc).__name__}); "
                "check that it is running and its base_url, then retry"
            ) from exc
        if response.status_code >= 500:
            raise TTSUnreachableError(f"speech server {self.server.name} answered {response.status_code}; retry later")
        if response.status_code != 200:
            raise TTSFailedError(
                f"speech server {self.server.name} refused the request ({response.status_code}): {response.text[:200]}"
            )
        return response.content


def _decode(data: bytes, voice_id: str) -> tuple[np.ndarray, int]:
    """Any container PyAV reads (wav, mp3, flac, opus) to float32 mono at the file's own rate."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            sample_rate = stream.rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            parts = [
                resampled.to_ndarray().reshape(-1)
                for frame in container.decode(stream)
                for resampled in resampler.resample(frame)
            ]
            parts += [resampled.to_ndarray().reshape(-1) for resampled in resampler.resample(None)]
    except (av.FFmpegError, IndexError) as exc:
        raise TTSFailedError(f"{voice_id} returned audio that cannot be decoded: {exc}") from exc
    samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    if samples.size == 0:
        raise TTSFailedError(f"{voice_id} returned no audio")
    return samples, sample_rate


def _without_credentials(url: str) -> str:
    """The URL as it may appear in an error message: any user:password@ removed."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
