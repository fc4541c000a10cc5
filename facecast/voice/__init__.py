"""facecast voice: text to speech with phoneme timings (espeak-ng, Piper, OpenAI-compatible servers) and subtitles.

Importing this package loads no TTS library; engines load on first use.
"""

from .base import SynthesizedSpeech, synthesize, synthesize_stream, write_speech
from .options import DEFAULT_VOICE, OpenAIServerConfig, PiperVoiceConfig, SynthesisOptions, VoiceConfig, VoiceInfo
from .registry import get_voice, list_voices

__all__ = [
    "DEFAULT_VOICE", "OpenAIServerConfig", "PiperVoiceConfig", "SynthesisOptions", "SynthesizedSpeech",
    "VoiceConfig", "VoiceInfo", "get_voice", "list_voices", "synthesize", "synthesize_stream", "write_speech",
]
