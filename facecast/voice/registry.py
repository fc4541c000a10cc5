"""Finding voices: every engine's list, and a lookup that forgives how people write a voice or language.

`espeak:cmn`, `cmn`, `zh`, `zh-CN` and `Mandarin` all name the Mandarin espeak voice; a bare language code
or name gives that language's default voice. Whatever the spelling, the lookup ends in an engine's own
get_voice with a name from that engine's list, so no unchecked string reaches a TTS library.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from . import espeak, openai_compat, piper
from .errors import UnknownVoiceError
from .options import DEFAULT_VOICE, Voice, VoiceConfig, VoiceInfo

ENGINES: dict[str, Callable[[str, VoiceConfig], Voice | None]] = {
    "espeak": espeak.get_voice, "piper": piper.get_voice, "openai": openai_compat.get_voice,
}
# Other spellings of a language, mapped to the language tag espeak lists it under.
LANGUAGE_ALIASES = {
    "zh": "cmn", "zh-cn": "cmn", "zh-hans": "cmn", "zh-sg": "cmn", "chinese": "cmn", "mandarin": "cmn",
    "putonghua": "cmn", "cantonese": "yue", "zh-hk": "yue", "zh-yue": "yue", "english": "en",
}
# The voice a bare language gets when no listed voice carries exactly that tag.
LANGUAGE_DEFAULTS = {"en": DEFAULT_VOICE, "cmn": "espeak:cmn", "fr": "espeak:fr-fr"}
SUGGESTIONS = 3
MAX_ECHOED_CHARS = 60  # of an unknown id in the error message


def list_voices(config: VoiceConfig = VoiceConfig()) -> list[VoiceInfo]:
    """All voices: embedded espeak (when espeakng-loader is installed), configured Piper and servers."""
    return espeak.list_voices() + piper.list_voices(config) + openai_compat.list_voices(config)


def get_voice(voice_id: str, config: VoiceConfig = VoiceConfig()) -> Voice:
    """The voice for an id (`espeak:en-us`), a bare name (`en-gb`), a language code (`zh-CN`) or name (`Mandarin`).

    Raises:
        UnknownVoiceError: nothing matches; the message names the closest ids and how to list them all.
    """
    query = voice_id.strip()
    engine, separator, name = query.partition(":")
    engine = engine.lower()
    if separator and engine in ENGINES:  # a full id is taken as written: no guessing past the engine's list
        voice = ENGINES[engine](name, config) if name else None
    else:
        voice = _by_name(query, config) or _by_language(query, config)
    if voice is None:
        raise UnknownVoiceError(_unknown_message(query, config))
    return voice


def _by_name(name: str, config: VoiceConfig) -> Voice | None:
    """A listed voice named without its engine: `en-gb`, `cmn+f3`, a Piper voice's name."""
    if not name:
        return None
    if espeak.is_available() and (voice := espeak.get_voice(name, config)) is not None:
        return voice
    return piper.get_voice(name, config)


def _by_language(text: str, config: VoiceConfig) -> Voice | None:
    """The default voice of a language given as a code (`zh-CN`, `en`) or a name (`Mandarin`, `German`)."""
    tag = text.strip().lower().replace("_", "-")
    tag = LANGUAGE_ALIASES.get(tag, tag)
    voices = list_voices(config)
    named = {(v.language or "").lower() for v in voices if v.name.lower().split(" (")[0].strip() == tag}
    if named and not any(v.language == tag for v in voices):
        tag = min(named, key=len).split("-")[0]  # "German" -> de; "French" -> fr, shared by its regional voices
    for candidate in (f"espeak:{tag}", LANGUAGE_DEFAULTS.get(tag)):
        if candidate and (voice := _listed(candidate, voices, config)) is not None:
            return voice
    same = [v for v in voices if (v.language or "").lower() == tag and "+" not in v.id]
    regional = [v for v in voices if (v.language or "").lower().startswith(tag + "-") and "+" not in v.id]
    for group in (same, regional):
        if group:
            return _listed(min(group, key=lambda v: (len(v.id), v.id)).id, voices, config)
    return None


def _listed(voice_id: str, voices: list[VoiceInfo], config: VoiceConfig) -> Voice | None:
    """The voice for an id only when it is in `voices`: aliases never reach an engine unchecked."""
    if not any(v.id == voice_id for v in voices):
        return None
    engine, _, name = voice_id.partition(":")
    return ENGINES[engine](name, config)


def _unknown_message(query: str, config: VoiceConfig) -> str:
    ids = [v.id for v in list_voices(config)]
    needle = query.lower()

    def likeness(voice_id: str) -> float:
        bare = voice_id.partition(":")[2]
        return max(difflib.SequenceMatcher(None, needle, candidate.lower()).ratio() for candidate in (voice_id, bare))

    closest = sorted(ids, key=lambda voice_id: (-likeness(voice_id), voice_id))[:SUGGESTIONS]
    shown = query if len(query) <= MAX_ECHOED_CHARS else query[:MAX_ECHOED_CHARS] + "..."
    hint = f"the closest are {', '.join(closest)}; " if closest else ""
    return (f"unknown voice {shown!r}; {hint}list all voices with `facecast voices` or GET /v1/voices")
