"""Piper voices: a user's `voice.onnx` + `voice.onnx.json`, run with onnxruntime (extra `piper`).

Text is phonemised by the embedded espeak voice the config names (`espeak.voice`), exactly as Piper does,
and the phoneme ids go through the model (inputs `input`, `input_lengths`, `scales`, optional `sid`).
Piper models do not expose phoneme durations, so espeak's phoneme timings for the same sentence are
stretched over the model's audio.
"""

from __future__ import annotations

import functools
import json
import logging
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facecast.engine.errors import BackendUnavailableError
from facecast.engine.speech_types import AudioClip

from .clips import shift_pitch
from .errors import TTSFailedError, VoiceConfigError
from .options import PiperVoiceConfig, SynthesisOptions, VoiceConfig, VoiceInfo

log = logging.getLogger("facecast.voice.piper")

_PAD, _BOS, _EOS = "_", "^", "$"


@dataclass(frozen=True, slots=True)
class PiperConfig:
    """The parts of a Piper `.onnx.json` that synthesis needs."""

    sample_rate: int
    espeak_voice: str
    phoneme_id_map: dict[str, list[int]]
    noise_scale: float
    length_scale: float
    noise_w: float
    num_speakers: int
    language: str | None


def read_config(path: Path) -> PiperConfig:
    """Parse a Piper voice config, or say which field is missing."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        inference = raw.get("inference", {})
        language = raw.get("language", {}).get("code") or raw["espeak"]["voice"]
        return PiperConfig(
            sample_rate=int(raw["audio"]["sample_rate"]),
            espeak_voice=str(raw["espeak"]["voice"]),
            phoneme_id_map={str(k): [int(i) for i in v] for k, v in raw["phoneme_id_map"].items()},
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
            num_speakers=int(raw.get("num_speakers", 1)),
            language=str(language).replace("_", "-").lower(),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VoiceConfigError(f"Piper config {path} is unreadable or incomplete ({exc!r}); use the voice's .onnx.json") from exc


def _voice_configs(config: VoiceConfig) -> list[PiperVoiceConfig]:
    found = list(config.piper)
    for directory in config.piper_dirs:
        for model in sorted(Path(directory).glob("*.onnx")):
            if model.with_name(model.name + ".json").is_file():
                found.append(PiperVoiceConfig(model.stem, model))
    return found


def _config_path(voice: PiperVoiceConfig) -> Path:
    return voice.config_path or voice.model_path.with_name(voice.model_path.name + ".json")


def list_voices(config: VoiceConfig) -> list[VoiceInfo]:
    infos = []
    for voice in _voice_configs(config):
        try:
            language = read_config(_config_path(voice)).language
        except VoiceConfigError as exc:
            log.warning("skipping Piper voice %s: %s", voice.name, exc)
            continue
        infos.append(VoiceInfo(f"piper:{voice.name}", "piper", language, None, voice.name))
    return infos


def get_voice(name: str, config: VoiceConfig) -> PiperVoice | None:
    for voice in _voice_configs(config):
        if voice.name == name:
            return PiperVoice(voice)
    return None


@functools.lru_cache(maxsize=4)
def _session(model_path: str):
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError("Piper voices require onnxruntime; pip install 'facecast[piper]'") from exc
    try:
        return onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise VoiceConfigError(f"Piper model {model_path} cannot be loaded: {exc}") from exc


class PiperVoice:
    """A Piper voice; its phoneme timings come from espeak, stretched to the model's audio."""

    def __init__(self, voice: PiperVoiceConfig) -> None:
        self.voice = voice
        if not voice.model_path.is_file():
            raise VoiceConfigError(f"Piper model {voice.model_path} does not exist; point the voice at its .onnx file")
        self.config = read_config(_config_path(voice))
        self.info = VoiceInfo(f"piper:{voice.name}", "piper", self.config.language, None, voice.name)

    def _espeak(self):
        from . import espeak

        voice = espeak.get_voice(self.config.espeak_voice)
        if voice is None:
            raise VoiceConfigError(f"Piper voice {self.info.id} needs espeak voice {self.config.espeak_voice!r}, which is not installed")
        return voice

    def phoneme_ids(self, text: str) -> list[int]:
        """Piper's id sequence: ^ _ then each phoneme followed by _, then $."""
        ipa = " ".join(self._espeak().phonemize(text))
        final = text.rstrip()[-1:]
        if final in self.config.phoneme_id_map:
            ipa += final
        ids_of = self.config.phoneme_id_map
        ids = list(ids_of[_BOS]) + list(ids_of[_PAD])
        for symbol in unicodedata.normalize("NFD", ipa):
            if symbol not in ids_of:
                log.debug("phoneme %r is not in %s", symbol, self.info.id)
                continue
            ids += ids_of[symbol] + ids_of[_PAD]
        return ids + list(ids_of[_EOS])

    def synthesize(self, text: str, options: SynthesisOptions) -> AudioClip:
        factor = 2.0 ** (options.pitch / 12.0)  # pitch: slower synthesis, then resampled up (shift_pitch)
        length_scale = self.config.length_scale * factor / options.rate
        ids = self.phoneme_ids(text)
        feeds = {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([self.config.noise_scale, length_scale, self.config.noise_w], np.float32),
        }
        session = _session(str(self.voice.model_path))
        if any(node.name == "sid" for node in session.get_inputs()):
            feeds["sid"] = np.array([self.voice.speaker or 0], np.int64)
        try:
            audio = session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's errors are untyped
            raise TTSFailedError(f"Piper voice {self.info.id} failed on {text[:40]!r}: {exc}") from exc
        samples = np.clip(np.asarray(audio, np.float32).reshape(-1), -1.0, 1.0)
        if samples.size == 0:
            raise TTSFailedError(f"Piper voice {self.info.id} produced no audio for {text[:40]!r}")
        clip = self._timed(text, samples, options)
        return shift_pitch(clip, options.pitch)

    def _timed(self, text: str, samples: np.ndarray, options: SynthesisOptions) -> AudioClip:
        """espeak's phoneme and word timings for the sentence, scaled to the Piper audio's length."""
        reference = self._espeak().synthesize(text, replace(options, pitch=0.0, volume=1.0))
        duration = len(samples) / self.config.sample_rate
        scale = duration / reference.duration_s if reference.duration_s else 0.0
        phonemes = [replace(p, start_s=p.start_s * scale, end_s=p.end_s * scale) for p in reference.phonemes]
        words = [replace(w, start_s=w.start_s * scale, end_s=w.end_s * scale) for w in reference.words]
        return AudioClip(samples, self.config.sample_rate, phonemes, words)
