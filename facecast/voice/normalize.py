"""Rewrite text so espeak reads it naturally, keeping a map back to the original characters.

espeak reads numbers itself, but in Chinese it drops the decimal point ("3.5" becomes "san wu"), reads "%"
in English and reads years and phone numbers as quantities. The origin map lets word timings and subtitles
show the text the user wrote, not the rewritten one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .text import is_chinese

_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)}  # ０-９
_FULLWIDTH.update({code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)})  # Ａ-Ｚ
_FULLWIDTH.update({code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)})  # ａ-ｚ
_FULLWIDTH.update({0xFF05: ord("%"), 0xFF0E: ord(".")})

_ZH_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Text for the synthesiser and, per character, the index of the original character it came from."""

    text: str
    origin: tuple[int, ...]

    def original_span(self, start: int, end: int, original: str) -> str:
        """The original text behind normalized characters [start, end)."""
        if start >= len(self.origin):
            return ""
        first = self.origin[start]
        last = self.origin[end] if end < len(self.origin) else len(original)
        return original[first:last]


def _zh_digits(digits: str) -> str:
    return "".join(_ZH_DIGITS[int(d)] for d in digits)


def _zh_number(number: str) -> str:
    whole, _, fraction = number.partition(".")
    return whole + ("点" + _zh_digits(fraction) if fraction else "")


_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

_ZH_RULES: list[_Rule] = [
    (re.compile(r"(\d+(?:\.\d+)?)%"), lambda m: "百分之" + _zh_number(m.group(1))),
    (re.compile(r"(?<!\d)(\d{4})(?=年)"), lambda m: _zh_digits(m.group(1))),
    (re.compile(r"(?<![\d.])\d{5,}(?![\d.])"), lambda m: _zh_digits(m.group())),
    (re.compile(r"\d+\.\d+"), lambda m: _zh_number(m.group())),
]


def normalize(text: str, language: str | None) -> NormalizedText:
    """Full-width digits and letters become ASCII; Chinese voices get numbers spelled the Chinese way."""
    text = text.translate(_FULLWIDTH)  # one character for one: positions unchanged
    pieces: list[tuple[str, int]] = [(ch, index) for index, ch in enumerate(text)]
    if is_chinese(language):
        for pattern, replace in _ZH_RULES:
            pieces = _apply(pieces, pattern, replace)
    return NormalizedText("".join(ch for ch, _ in pieces), tuple(index for _, index in pieces))


def _apply(pieces: list[tuple[str, int]], pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> list[tuple[str, int]]:
    current = "".join(ch for ch, _ in pieces)
    out: list[tuple[str, int]] = []
    position = 0
    for match in pattern.finditer(current):
        out.extend(pieces[position : match.start()])
        origin = pieces[match.start()][1]
        out.extend((ch, origin) for ch in replace(match))
        position = match.end()
    out.extend(pieces[position:])
    return out
