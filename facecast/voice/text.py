"""Text preparation: validation, sentence splitting for Chinese/English/mixed text, number normalisation.

Splitting keeps each synthesis call small (one sentence), so long scripts stream and a pause can follow
each sentence according to its closing punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import EmptyTextError, TextTooLongError, UnsupportedLanguageError

MAX_TEXT_CHARS = 20_000
MAX_SENTENCE_CHARS = 300  # longer sentences are cut at clause punctuation, then at spaces

# Seconds of silence after a chunk, by the punctuation that closes it.
PAUSE_FULL_STOP_S = 0.35
PAUSE_CLAUSE_S = 0.2
PAUSE_COMMA_S = 0.12
PAUSE_PARAGRAPH_S = 0.6
PAUSE_ELLIPSIS_S = 0.5

_CJK_TERMINATORS = "。！？；…"
_LATIN_TERMINATORS = ".!?;"
_CLOSERS = "\"'”’」』）)】》〉]"
_CLAUSE_MARKS = ",;:，；：、"

# A sentence ends at CJK terminators anywhere, at Latin ones before a space/end, and at line breaks.
_SENTENCE_END = re.compile(
    rf"(?:[{_CJK_TERMINATORS}]+|[{re.escape(_LATIN_TERMINATORS)}]+(?=\s|$|[{re.escape(_CLOSERS)}]))"
    rf"[{re.escape(_CLOSERS)}]*\s*|\n\s*"
)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One synthesis unit and the silence that follows it."""

    text: str
    pause_s: float


def validate_text(text: str) -> str:
    """Return the text stripped, or raise when there is nothing to say or too much of it."""
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLongError(
            f"text has {len(text)} characters, the limit is {MAX_TEXT_CHARS}; split it into several videos"
        )
    stripped = text.strip()
    if not stripped:
        raise EmptyTextError("text is empty; give the words to speak with --text or --text-file")
    if not any(ch.isalnum() for ch in stripped):
        raise EmptyTextError(f"text {stripped[:40]!r} has only punctuation or symbols; give words to speak")
    return stripped


def _pause_for(chunk: str, separator: str) -> float:
    if separator.count("\n") >= 2:
        return PAUSE_PARAGRAPH_S
    tail = chunk.rstrip(_CLOSERS + " ")
    if tail.endswith(("…", "...")):
        return PAUSE_ELLIPSIS_S
    last = tail[-1:] if tail else ""
    if last in ".!?。！？":
        return PAUSE_FULL_STOP_S
    if last in ";:；：":
        return PAUSE_CLAUSE_S
    if separator.count("\n") == 1:
        return PAUSE_CLAUSE_S
    return PAUSE_COMMA_S


def _cut_long(chunk: str, max_chars: int) -> Iterator[str]:
    """Cut an over-long sentence at clause marks, else spaces, else anywhere."""
    while len(chunk) > max_chars:
        window = chunk[:max_chars]
        cut = max(window.rfind(mark) for mark in _CLAUSE_MARKS)
        if cut < max_chars // 3:
            cut = window.rfind(" ")
        if cut < max_chars // 3:
            cut = max_chars - 1
        yield chunk[: cut + 1].strip()
        chunk = chunk[cut + 1 :].strip()
    if chunk:
        yield chunk


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> Iterator[Sentence]:
    """Yield sentences of at most max_chars with the pause that should follow each; lazily, for long text."""
    position = 0
    for match in _SENTENCE_END.finditer(text):
        yield from _sentences_in(text[position : match.end()], match.group(), max_chars)
        position = match.end()
    yield from _sentences_in(text[position:], "", max_chars)


def _sentences_in(chunk: str, separator: str, max_chars: int) -> Iterator[Sentence]:
    pieces = [piece for piece in _cut_long(chunk.strip(), max_chars) if any(ch.isalnum() for ch in piece)]
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        yield Sentence(piece, _pause_for(piece, separator) if last else PAUSE_COMMA_S)


# ---- scripts and languages -------------------------------------------------------------------------------

_SCRIPT_RANGES = {
    "Han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F)),
    "Kana": ((0x3040, 0x30FF), (0x31F0, 0x31FF)),
    "Hangul": ((0x1100, 0x11FF), (0xAC00, 0xD7AF)),
    "Cyrillic": ((0x0400, 0x04FF),),
    "Greek": ((0x0370, 0x03FF),),
    "Arabic": ((0x0600, 0x06FF), (0x0750, 0x077F)),
    "Hebrew": ((0x0590, 0x05FF),),
    "Devanagari": ((0x0900, 0x097F),),
    "Thai": ((0x0E00, 0x0E7F),),
}
# Base language codes (before any "-" region) able to read each non-Latin script. Latin is read by all.
_SCRIPT_LANGUAGES = {
    "Han": {"cmn", "yue", "zh", "hak", "nan", "wuu", "ja"},
    "Kana": {"ja"},
    "Hangul": {"ko"},
    "Cyrillic": {"ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "tt", "ba", "cv", "mn"},
    "Greek": {"el", "grc"},
    "Arabic": {"ar", "fa", "ur", "ps", "ug", "sd", "ku"},
    "Hebrew": {"he"},
    "Devanagari": {"hi", "mr", "ne", "sa", "kok", "bpy"},
    "Thai": {"th"},
}
_LANGUAGE_NAMES = {"Han": "Chinese", "Kana": "Japanese", "Hangul": "Korean"}


def scripts_in(text: str) -> set[str]:
    """The non-Latin scripts the text uses (Han, Cyrillic, ...)."""
    found: set[str] = set()
    for ch in text:
        code = ord(ch)
        if code < 0x0370:
            continue
        for script, ranges in _SCRIPT_RANGES.items():
            if any(low <= code <= high for low, high in ranges):
                found.add(script)
                break
    return found


def base_language(language: str) -> str:
    return language.lower().replace("_", "-").split("-")[0]


def check_language_or_raise(text: str, voice_id: str, language: str | None, suggestion: str = "") -> None:
    """Refuse text in a script the voice's language cannot read; unknown languages are not checked."""
    if not language:
        return
    base = base_language(language)
    for script in sorted(scripts_in(text)):
        if base not in _SCRIPT_LANGUAGES[script]:
            name = _LANGUAGE_NAMES.get(script, script)
            hint = f"; use a voice such as {suggestion}" if suggestion else "; choose a voice for that language"
            raise UnsupportedLanguageError(
                f"voice {voice_id} speaks {language} and cannot read the {name} text given{hint}"
            )


def is_chinese(language: str | None) -> bool:
    return bool(language) and base_language(language) in {"cmn", "yue", "zh", "hak", "nan", "wuu"}
