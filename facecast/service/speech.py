"""Text jobs in the service: cheap checks at submit time, synthesis shared through a cache, voice previews.

The voice layer (facecast.voice) does the work; this module decides where its files live. Speech is cached by
the hash of (text, voice, options) under data_dir/cache/speech, so the videos of a batch, and repeated texts,
are synthesised once per host; a file lock makes concurrent workers wait for the first instead of repeating it.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facecast.engine.files import write_json_atomic
from facecast.engine.optionspec import build_options, option_values

from .settings import Settings

if TYPE_CHECKING:
    from facecast.engine.progress import CancelToken
    from facecast.voice import SynthesizedSpeech, VoiceInfo

log = logging.getLogger("facecast.worker")
RETRYABLE_CODES = frozenset({"tts_unreachable"})  # a later attempt may succeed; see JobService.retry_later
SPEECH_CACHE_TTL_S = 24 * 3600  # cached speech older than this is removed when new speech is written


def check_speech_or_raise(text: str, voice: str | None, options: dict[str, Any], settings: Settings) -> str:
    """Check text, voice and language without synthesising; returns the voice id the job will use.

    Raises:
        EmptyTextError, TextTooLongError, UnknownVoiceError, UnsupportedLanguageError, VoiceConfigError:
            empty or punctuation-only text, text over MAX_TEXT_CHARS characters, unknown voice (the
            message lists those available), text in a script the voice cannot read.
    """
    from facecast.voice import SynthesisOptions, get_voice, synthesize_stream

    voice_id = voice or settings.voice.default_voice
    config = settings.voice.voice_config()
    synthesis = build_options(SynthesisOptions, options)
    synthesize_stream(text, voice_id, synthesis, config)  # a generator: checks now, speaks only when iterated
    return get_voice(voice_id, config).info.id  # canonical spelling (espeak:EN-US -> espeak:en-us)


def list_voices(settings: Settings, language: str | None = None, engine: str | None = None) -> list[VoiceInfo]:
    """Every voice text jobs can use, optionally only one engine's or one language's (en matches en-us)."""
    from facecast.voice import list_voices as all_voices
    from facecast.voice.text import base_language

    voices = all_voices(settings.voice.voice_config())
    if engine:
        voices = [v for v in voices if v.engine == engine]
    if language:
        wanted = language.lower().replace("_", "-")
        voices = [v for v in voices if v.language and (v.language.lower() == wanted
                                                       or base_language(v.language) == base_language(wanted))]
    return voices


PREVIEW_TIMEOUT_S = 60.0
MAX_PREVIEW_FILES = 256  # one per voice; the oldest are removed past this


def preview_wav(settings: Settings, voice_id: str) -> Path:
    """A short WAV of the voice reading its sample sentence, synthesised on first request and then cached.

    Synthesis runs in a child process: a native TTS library that crashes takes only that process down,
    never the API that asked for the preview.

    Raises:
        UnknownVoiceError: no such voice. TTSUnreachableError: its speech server is down. TTSFailedError: the
        engine failed or crashed.
    """
    from facecast.voice import get_voice

    config = settings.voice.voice_config()
    info = get_voice(voice_id, config).info  # only listed voices and variants get this far
    digest = hashlib.sha256(f"{info.id}\n{info.preview_text}".encode()).hexdigest()[:32]
    directory = settings.data_dir / "cache" / "voices"
    path = directory / f"{digest}.wav"
    if path.is_file():
        os.utime(path)
        return path
    _synthesize_in_child(info.id, info.preview_text, config, path)
    _prune_oldest(directory, "*.wav", MAX_PREVIEW_FILES)
    return path


def _synthesize_in_child(voice_id: str, text: str, config: Any, path: Path) -> None:
    """Write the speech of `text` to `path` from a fresh process; its errors come back as they were raised."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from facecast.voice.errors import TTSFailedError

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_write_preview, voice_id, text, config, path)
        try:
            future.result(timeout=PREVIEW_TIMEOUT_S)
        except BrokenProcessPool:
            log.error("the speech engine crashed while previewing %s", voice_id)
            raise TTSFailedError(f"the speech engine crashed while speaking with {voice_id}") from None
        except TimeoutError:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            raise TTSFailedError(f"{voice_id} took over {PREVIEW_TIMEOUT_S:.0f} s to speak a sentence") from None


def _write_preview(voice_id: str, text: str, config: Any, path: Path) -> None:
    """Child-process body of a preview (module level, so the spawn context can import it)."""
    from facecast.voice import synthesize_stream, write_speech

    write_speech(_first_clip_now(synthesize_stream(text, voice_id, config=config)), path)


def _prune_oldest(directory: Path, pattern: str, keep: int) -> None:
    """Keep the `keep` most recently used files matching `pattern` in `directory`."""
    files = sorted(directory.glob(pattern), key=lambda f: f.stat().st_mtime, reverse=True)
    for stale in files[keep:]:
        stale.unlink(missing_ok=True)


def speech_key(text: str, voice: str, options: dict[str, Any]) -> str:
    """Cache key of one synthesis: equal for every video of a batch."""
    from facecast.voice import SynthesisOptions

    body = {"text": text, "voice": voice, **option_values(build_options(SynthesisOptions, options))}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]


def synthesize_cached(settings: Settings, text: str, voice: str, options: dict[str, Any],
                      cancel: CancelToken) -> SynthesizedSpeech:
    """The speech for a text job: from the cache, or synthesised sentence by sentence into it.

    Raises:
        TTSUnreachableError (retryable), TTSFailedError, and the input errors of check_speech_or_raise.
    """
    from facecast.voice import SynthesisOptions, synthesize_stream, write_speech

    directory = settings.data_dir / "cache" / "speech"
    directory.mkdir(parents=True, exist_ok=True)
    key = speech_key(text, voice, options)
    wav, timings = directory / f"{key}.wav", directory / f"{key}.json"
    with _locked(directory / f"{key}.lock"):
        if wav.is_file() and timings.is_file():
            os.utime(wav)
            return _load(wav, timings)
        _prune(directory)
        synthesis = build_options(SynthesisOptions, options)
        started = time.monotonic()
        stream = synthesize_stream(text, voice, synthesis, settings.voice.voice_config())
        speech = write_speech(_cancellable(_first_clip_now(stream), cancel), wav)
        write_json_atomic(timings, {"sample_rate": speech.sample_rate, "duration_s": speech.duration_s,
                              "phonemes": [asdict(p) for p in speech.phonemes],
                              "words": [asdict(w) for w in speech.words]})
        log.info("synthesised speech %s: %.1f s with %s in %.1f s", key, speech.duration_s, voice,
                 time.monotonic() - started)
        return speech


def _first_clip_now(stream: Iterator[Any]) -> Iterator[Any]:
    """Synthesise the first sentence before write_speech opens its file: its wave writer, closed with no
    clip written, raises wave.Error and hides the engine's error (tts_unreachable became internal_error)."""
    first = next(stream, None)
    return stream if first is None else itertools.chain([first], stream)


def _cancellable(stream: Iterator[Any], cancel: CancelToken) -> Iterator[Any]:
    for clip in stream:
        cancel.raise_if_canceled()
        yield clip


def _load(wav: Path, timings: Path) -> SynthesizedSpeech:
    from facecast.engine.speech_types import PhonemeTiming, WordTiming
    from facecast.voice import SynthesizedSpeech

    data = json.loads(timings.read_text(encoding="utf-8"))
    return SynthesizedSpeech(wav, data["sample_rate"], data["duration_s"],
                             [PhonemeTiming(**p) for p in data["phonemes"]], [WordTiming(**w) for w in data["words"]])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes of this host (held while one of them synthesises)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(directory: Path) -> None:
    """Remove cached speech not used for a day (a batch's videos run within that, or synthesise again)."""
    cutoff = time.time() - SPEECH_CACHE_TTL_S
    for wav in directory.glob("*.wav"):
        try:
            if wav.stat().st_mtime < cutoff:
                wav.unlink(missing_ok=True)
                wav.with_suffix(".json").unlink(missing_ok=True)  # the empty .lock stays: another may hold it
        except OSError:
            log.debug("could not prune %s", wav, exc_info=True)


def subtitle_keys(job_id: str) -> tuple[str, str]:
    """Storage keys of a text job's SRT and WebVTT files."""
    return f"outputs/{job_id}.srt", f"outputs/{job_id}.vtt"

