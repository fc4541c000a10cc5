"""Subtitles timed from synthesis: cues of at most 2 lines x 42 characters, SRT and WebVTT files.

Line breaking is CJK-aware: Chinese and Japanese characters may break anywhere, except before closing
punctuation; Latin text breaks at spaces. Drawing cues onto frames lives in `burn.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from facecast.engine.errors import InvalidOptionError
from facecast.engine.files import write_text_atomic
from facecast.engine.speech_types import SubtitleCue, WordTiming

_CLOSING = set("，。！？；：、,.!?;:)]}）】》」』”’…%")
_OPENING = set("([{（【《「『“‘")
_SENTENCE_END = set("。！？.!?…")
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef\u2018-\u201d\u2026"
_TOKEN = re.compile(rf"[{_CJK}]|[{_CJK_PUNCT}]|[^\s{_CJK}{_CJK_PUNCT}]+")


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: its time span and up to max_lines lines."""

    start_s: float
    end_s: float
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CueOptions:
    """Layout limits of a cue."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_duration_s: float = 7.0  # a longer sentence is split across cues

    def __post_init__(self) -> None:
        if self.max_line_chars < 8 or not 1 <= self.max_lines <= 4 or self.max_duration_s <= 0.5:
            raise InvalidOptionError("subtitle cues need >= 8 characters a line, 1-4 lines and > 0.5 s")


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xAC00 <= code <= 0xD7AF


def split_words(text: str) -> list[str]:
    """Tokens for timing and breaking: one per CJK character, one per space-separated Latin word.

    Closing punctuation joins the token before it and opening brackets the token after, so no line
    starts with a closing mark or ends with an opening one.
    """
    tokens: list[str] = []
    opening = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        spaced = match.start() > 0 and text[match.start() - 1].isspace()
        if all(ch in _OPENING for ch in token):
            opening += token
        elif tokens and not opening and all(ch in _CLOSING for ch in token) and not spaced:
            tokens[-1] += token
        else:
            tokens.append(opening + token)
            opening = ""
    if opening:
        tokens.append(opening)
    return tokens


def _join(left: str, right: str) -> str:
    """Join two tokens: a space between Latin words, nothing next to CJK characters."""
    if not left:
        return right
    if is_cjk(left[-1]) or is_cjk(right[0]) or not left[-1].isascii() or not right[0].isascii():
        return left + right
    return f"{left} {right}"


def wrap_tokens(tokens: Sequence[str], width: int) -> list[str]:
    """Greedy line filling at token boundaries; a token longer than a line is cut."""
    lines: list[str] = []
    current = ""
    for token in tokens:
        joined = _join(current, token)
        if len(joined) <= width:
            current = joined
            continue
        if current:
            lines.append(current)
        while len(token) > width:
            lines.append(token[:width])
            token = token[width:]
        current = token
    if current:
        lines.append(current)
    return lines


def _fine_tokens(words: Iterable[WordTiming]) -> list[WordTiming]:
    """Split multi-character words (a CJK phrase espeak timed as one) into tokens with shared-out times."""
    result: list[WordTiming] = []
    for word in words:
        tokens = split_words(word.text)
        total = sum(len(token) for token in tokens) or 1
        start = word.start_s
        for token in tokens:
            end = start + (word.end_s - word.start_s) * len(token) / total
            result.append(WordTiming(start, end, token))
            start = end
    return result


def build_cues(words: Iterable[WordTiming], options: CueOptions = CueOptions()) -> list[Cue]:
    """Group timed words into cues that fit the layout; a cue also ends with its sentence."""
    cues: list[Cue] = []
    group: list[WordTiming] = []

    def flush() -> None:
        if group:
            lines = wrap_tokens([w.text for w in group], options.max_line_chars)
            cues.append(Cue(group[0].start_s, group[-1].end_s, tuple(lines)))
            group.clear()

    for word in _fine_tokens(words):
        candidate = [w.text for w in group] + [word.text]
        too_long = len(wrap_tokens(candidate, options.max_line_chars)) > options.max_lines
        too_slow = bool(group) and word.end_s - group[0].start_s > options.max_duration_s
        if group and (too_long or too_slow):
            flush()
        group.append(word)
        if word.text[-1] in _SENTENCE_END:
            flush()
    flush()
    return _no_overlap(cues)


def _no_overlap(cues: list[Cue]) -> list[Cue]:
    fixed = []
    for index, cue in enumerate(cues):
        end = min(cue.end_s, cues[index + 1].start_s) if index + 1 < len(cues) else cue.end_s
        fixed.append(Cue(cue.start_s, max(end, cue.start_s + 0.001), cue.lines))
    return fixed


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def format_srt(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{index}\n{_timestamp(cue.start_s, ',')} --> {_timestamp(cue.end_s, ',')}\n" + "\n".join(cue.lines)
        for index, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + "\n"


def format_vtt(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{_timestamp(cue.start_s, '.')} --> {_timestamp(cue.end_s, '.')}\n" + "\n".join(cue.lines) for cue in cues
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


def write_srt(cues: Sequence[Cue], path: Path) -> Path:
    """Write an SRT file; it appears only when complete."""
    return write_text_atomic(path, format_srt(cues))


def write_vtt(cues: Sequence[Cue], path: Path) -> Path:
    """Write a WebVTT file; it appears only when complete."""
    return write_text_atomic(path, format_vtt(cues))


def soft_track(cues: Sequence[Cue]) -> list[SubtitleCue]:
    """The cues as the engine's player-selectable subtitle track (lines joined by a line break)."""
    return [SubtitleCue(cue.start_s, cue.end_s, "\n".join(cue.lines)) for cue in cues]
