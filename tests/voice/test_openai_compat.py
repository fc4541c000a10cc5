"""OpenAI-compatible speech servers, against a real HTTP server on 127.0.0.1 serving espeak speech."""

from __future__ import annotations

import io
import json
import socket
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from facecast.voice.base import OpenAIServerConfig, SynthesisOptions, VoiceConfig, list_voices, synthesize
from facecast.voice.errors import TTSFailedError, TTSUnreachableError


def _wav_bytes(text: str) -> bytes:
    clip = synthesize(text, "espeak:en-us")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(clip.sample_rate)
        writer.writeframes((clip.samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


class _SpeechHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers.get("Authorization"), body))
        if body["voice"] == "broken":
            self.send_response(500)
            self.end_headers()
            return
        audio = _wav_bytes(body["input"])
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def speech_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SpeechHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _config(port: int, **overrides) -> VoiceConfig:
    server = OpenAIServerConfig(
        name="local", base_url=f"http://127.0.0.1:{port}/v1", model="cosyvoice", voices=("alloy", "broken"),
        api_key="secret-key", language="en", timeout_s=5.0, **overrides,
    )
    return VoiceConfig(openai=(server,))


def test_speech_from_a_server_with_spread_word_times(speech_server):
    config = _config(speech_server.server_address[1])
    assert "openai:local/alloy" in [v.id for v in list_voices(config)]
    clip = synthesize("Hello from the server. Second sentence here.", "openai:local/alloy", config=config)
    paths = [(path, auth, body["model"], body["voice"], body["response_format"]) for path, auth, body in speech_server.requests]
    assert paths == [("/v1/audio/speech", "Bearer secret-key", "cosyvoice", "alloy", "wav")] * 2
    assert [body["input"] for _, _, body in speech_server.requests] == ["Hello from the server.", "Second sentence here."]
    assert clip.phonemes and all(p.viseme == "sil" for p in clip.phonemes)  # only the pauses we added
    assert [w.text for w in clip.words] == "Hello from the server. Second sentence here.".split()
    assert clip.words[-1].end_s <= clip.duration_s
    assert np.sqrt(np.mean(clip.samples**2)) > 0.02
    assert 1.5 < clip.duration_s < 6.0


def test_rate_and_pitch_become_speed_and_resampling(speech_server):
    config = _config(speech_server.server_address[1])
    normal = synthesize("Hello there.", "openai:local/alloy", config=config)
    higher = synthesize("Hello there.", "openai:local/alloy", SynthesisOptions(rate=1.2, pitch=12), config=config)
    assert speech_server.requests[-1][2]["speed"] == pytest.approx(0.6)  # 1.2 / 2: an octave up by resampling
    assert higher.duration_s < 0.7 * normal.duration_s  # this server ignores speed, so the octave halves it


def test_unreachable_server_is_a_clear_retryable_error():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TTSUnreachableError) as caught:
        synthesize("Hello.", "openai:local/alloy", config=_config(port))
    assert caught.value.code == "tts_unreachable"
    assert "unreachable" in str(caught.value) and f"127.0.0.1:{port}" in str(caught.value)


def test_server_error_and_undecodable_audio(speech_server):
    config = _config(speech_server.server_address[1])
    with pytest.raises(TTSUnreachableError, match="answered 500"):
        synthesize("Hello.", "openai:local/broken", config=config)
    from facecast.voice.openai_compat import _decode

    with pytest.raises(TTSFailedError, match="cannot be decoded"):
        _decode(b"this is not audio", "openai:local/alloy")
