"""The embedded voice: espeak-ng from the `espeakng-loader` wheel, driven through ctypes.

espeak-ng reports each phoneme (as IPA) and each word with its sample position while it synthesises, so
clips come with exact phoneme and word timings. The library keeps global state and is not thread-safe:
every call holds one process-wide lock.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from dataclasses import dataclass

import numpy as np

from facecast.engine.errors import BackendUnavailableError
from facecast.engine.speech_types import AudioClip, PhonemeTiming, WordTiming

from .options import SynthesisOptions, VoiceConfig, VoiceInfo
from .errors import TTSFailedError
from .normalize import normalize
from .visemes import phoneme_to_viseme

log = logging.getLogger("facecast.voice.espeak")

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_END, _EVENT_PHONEME = 0, 1, 5, 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH = 1, 3
_PHONEMES_IPA = 0x02
_NORMAL_RATE_WPM = 175
_NORMAL_PITCH = 50
_FEMALE_VARIANT = "f3"
_VARIANTS_LISTED = ("en-us", "en-gb", "cmn")  # also listed with a female variant
# espeak-ng copies a voice name into fixed-size static buffers (the +variant part into 40 bytes): a longer
# name overruns them and aborts the process. Names handed to it are checked against this bound first.
MAX_NAME_BYTES = 40


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
        ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _EventId),
    ]


class _VoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int), ("spare", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(slots=True)
class _Capture:
    """What one espeak_Synth call produced: int16 chunks and (type, sample, text_position, id) events."""

    chunks: list[np.ndarray]
    events: list[tuple[int, int, int, str]]


class _Library:
    """The loaded espeak-ng library. Use only while holding `lock`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise BackendUnavailableError(
                "espeak voices require the espeakng-loader package; install it with pip install 'facecast[voice]'"
            ) from exc
        self.lock = threading.Lock()
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        path = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, options)
        if self.sample_rate <= 0:
            raise BackendUnavailableError(f"espeak-ng failed to start with its data at {path.decode()}")
        self.capture = _Capture([], [])
        self.callback = _Callback(self._on_audio)  # kept referenced: espeak holds the pointer
        self.lib.espeak_SetSynthCallback(self.callback)

    def _on_audio(self, wav, count, events) -> int:
        if count > 0:
            self.capture.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            name = event.id.string.decode("utf-8", "replace") if event.type == _EVENT_PHONEME else ""
            self.capture.events.append((event.type, event.sample, event.text_position, name))
            index += 1
        return 0

    def set_voice(self, identifier: str) -> None:
        encoded = identifier.encode()
        if len(encoded) >= MAX_NAME_BYTES or b"\0" in encoded:  # never hand espeak a name it cannot hold
            raise TTSFailedError(f"espeak-ng voice name {identifier[:MAX_NAME_BYTES]!r}... is too long")
        if self.lib.espeak_SetVoiceByName(encoded) != 0:
            raise TTSFailedError(f"espeak-ng could not load voice {identifier!r}; run `facecast voices` to list voices")

    def synth(self, text: str, rate_wpm: int, pitch: int) -> _Capture:
        self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self.capture = _Capture([], [])
        data = text.encode("utf-8")
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise TTSFailedError(f"espeak-ng failed with status {status} on {text[:40]!r}")
        self.lib.espeak_Synchronize()
        return self.capture

    def text_to_ipa(self, text: str) -> list[str]:
        """IPA for each clause of the text, as espeak_TextToPhonemes returns them."""
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        pointer = ctypes.pointer(buffer)
        clauses = []
        while pointer.contents.value:
            result = self.lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8, _PHONEMES_IPA)
            clauses.append((result or b"").decode("utf-8", "replace"))
        return clauses


@functools.lru_cache(maxsize=1)
def _library() -> _Library:
    return _Library()


def is_available() -> bool:
    try:
        _library()
    except BackendUnavailableError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _voice_table() -> dict[str, tuple[str, VoiceInfo]]:
    """Voice id name -> (espeak identifier, info), from espeak's own voice list."""
    lib = _library()
    entries: list[tuple[str, str, str]] = []
    with lib.lock:
        array = lib.lib.espeak_ListVoices(None)
        index = 0
        while array[index]:
            voice = array[index].contents
            # `languages` is (priority byte, NUL-terminated name) pairs; the first is the main language.
            language = ctypes.string_at(voice.languages + 1).decode()
            entries.append((language, voice.identifier.decode(), voice.name.decode()))
            index += 1
    table: dict[str, tuple[str, VoiceInfo]] = {}
    # A language shared by several voices goes to the voice whose file is named after it.
    entries.sort(key=lambda e: (e[0], e[1].rsplit("/", 1)[-1].lower() != e[0]))
    for language, identifier, name in entries:
        key = language if language not in table else identifier.rsplit("/", 1)[-1].lower()
        table[key] = (identifier, VoiceInfo(f"espeak:{key}", "espeak", language, None, name))
        if key in _VARIANTS_LISTED:
            variant = f"{key}+{_FEMALE_VARIANT}"
            info = VoiceInfo(f"espeak:{variant}", "espeak", language, "female", f"{name}, female variant")
            table[variant] = (f"{identifier}+{_FEMALE_VARIANT}", info)
    return table


@functools.lru_cache(maxsize=1)
def _variants() -> dict[str, str]:
    """espeak's voice variants (lower-case name -> file name), from its data folder's `voices/!v`."""
    import os

    import espeakng_loader

    folder = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
    return {name.lower(): name for name in os.listdir(folder) if " " not in name}


def list_voices() -> list[VoiceInfo]:
    """espeak's voices, or none when espeakng-loader is missing."""
    if not is_available():
        return []
    return [info for _, info in sorted(_voice_table().values(), key=lambda item: item[1].id)]


def get_voice(name: str, config: VoiceConfig | None = None) -> EspeakVoice | None:
    """`en-us`, `cmn`, or any listed name with an optional `+variant` (e.g. `en-us+f2`).

    Only variants that exist in espeak's data are accepted, so no unchecked string reaches the library.
    """
    key, _, variant = name.lower().partition("+")
    entry = _voice_table().get(key)
    if entry is None:
        return None
    identifier, info = entry
    if variant:
        if variant not in _variants():
            return None
        variant = _variants()[variant]
        if len(f"{identifier}+{variant}".encode()) >= MAX_NAME_BYTES:
            return None
        gender = "female" if variant.startswith("f") else "male" if variant.startswith("m") else None
        info = VoiceInfo(f"espeak:{key}+{variant}", "espeak", info.language, gender, f"{info.name} ({variant})")
        identifier = f"{identifier}+{variant}"
    return EspeakVoice(info, identifier)


class EspeakVoice:
    """One espeak voice; synthesize() returns audio with phoneme and word timings."""

    def __init__(self, info: VoiceInfo, identifier: str) -> None:
        self.info = info
        self.identifier = identifier

    def synthesize(self, text: str, options: SynthesisOptions) -> AudioClip:
        normalized = normalize(text, self.info.language)
        lib = _library()
        rate = int(round(_NORMAL_RATE_WPM * options.rate))
        pitch = int(round(min(100.0, max(0.0, _NORMAL_PITCH + options.pitch * 50.0 / 12.0))))
        with lib.lock:
            lib.set_voice(self.identifier)
            capture = lib.synth(normalized.text, rate, pitch)
        samples = np.concatenate(capture.chunks) if capture.chunks else np.zeros(0, np.int16)
        sample_rate = lib.sample_rate
        phonemes = _phoneme_timings(capture.events, len(samples), sample_rate)
        words = _word_timings(capture.events, phonemes, normalized, text, sample_rate)
        return AudioClip(samples.astype(np.float32) / 32768.0, sample_rate, phonemes, words)

    def phonemize(self, text: str) -> list[str]:
        """IPA per clause (Piper's input), from the same normalised text synthesize() would speak."""
        lib = _library()
        with lib.lock:
            lib.set_voice(self.identifier)
            return lib.text_to_ipa(normalize(text, self.info.language).text)


def _phoneme_timings(events: list[tuple[int, int, int, str]], total: int, sample_rate: int) -> list[PhonemeTiming]:
    """Each phoneme lasts until the next one starts; language-switch markers such as "(en)" are dropped."""
    starts = [(sample, name) for kind, sample, _, name in events if kind == _EVENT_PHONEME and not name.startswith("(")]
    timings: list[PhonemeTiming] = []
    for index, (sample, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else total
        if end <= sample:
            continue
        symbol = name or "_"
        timings.append(PhonemeTiming(sample / sample_rate, end / sample_rate, symbol, phoneme_to_viseme(symbol)))
    if timings and timings[0].start_s > 0:
        timings.insert(0, PhonemeTiming(0.0, timings[0].start_s, "_", "sil"))
    return timings


def _word_timings(events, phonemes: list[PhonemeTiming], normalized, original: str, sample_rate: int) -> list[WordTiming]:
    """Words from espeak's word events (1-based character positions), shown as the user wrote them.

    A word spans from its position to the next word's, so punctuation stays with the word before it; it
    ends when its last sounding phoneme ends.
    """
    starts: dict[int, int] = {}
    for kind, sample, position, _ in events:
        if kind == _EVENT_WORD and position >= 1:
            starts.setdefault(position - 1, sample)
    ordered = sorted(starts.items())
    words: list[WordTiming] = []
    pending_start: float | None = None
    for index, (position, sample) in enumerate(ordered):
        next_position = ordered[index + 1][0] if index + 1 < len(ordered) else len(normalized.text)
        begin = 0 if index == 0 else position  # text before the first word event belongs to it
        text = normalized.original_span(begin, next_position, original).strip()
        start = sample / sample_rate if pending_start is None else pending_start
        if not text:  # several rewritten characters (a spelled-out number) share one original word
            pending_start = start
            continue
        next_start = ordered[index + 1][1] / sample_rate if index + 1 < len(ordered) else float("inf")
        sounding = [p.end_s for p in phonemes if start <= p.start_s < next_start and p.viseme != "sil"]
        end = max(sounding) if sounding else min(next_start, phonemes[-1].end_s if phonemes else start)
        words.append(WordTiming(start, max(end, start), text))
        pending_start = None
    return words
