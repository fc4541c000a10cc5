"""Map phoneme symbols (IPA, as espeak-ng and Piper write them) to the engine's viseme classes.

One table serves every language espeak speaks, because both espeak (in IPA mode) and Piper use IPA. espeak's
Mandarin voice mixes in a few ASCII marks ("ts.h" for ch, "i." for the apical i, "o-" for the unrounded e): those are
handled as prefixes below.
"""

from __future__ import annotations

from facecast.engine.speech_types import VISEMES

_IGNORED = "ˈˌːˑ'\",%=̪̩̯̃ʰʲʷ"  # stress, length and diacritics do not change the mouth shape

# Multi-character onsets checked before single characters (affricates decide by their release).
_PREFIXES = (
    ("ts.", "CH"), ("tʂ", "CH"), ("ʈʂ", "CH"), ("dʐ", "CH"), ("tʃ", "CH"), ("dʒ", "CH"), ("tɕ", "CH"),
    ("dʑ", "CH"), ("ts", "SS"), ("dz", "SS"), ("s.", "CH"), ("z.", "CH"), ("pf", "FF"), ("o-", "E"),
)

_SINGLE = {
    "PP": "pbmɸβɓ",
    "FF": "fvʋɱ",
    "TH": "θð",
    "DD": "tdɾʈɖɗ",
    "kk": "kgɡŋxχɣqɢhɦʔħʕɰ",
    "CH": "ʃʒɕʑʂʐçʝcɟ",
    "SS": "sz",
    "nn": "nlɲɳɭʎɫɬɮɴ",
    "RR": "rɹɻʁʀɚɝɽ",
    "aa": "aɑæɐʌäɶ",
    "E": "eɛəɜᵻɘɤɞ@",
    "ih": "iɪɨjɯ",
    "oh": "oɔɒøœɵ",
    "ou": "uʊwɥyʏ",
}
_BY_CHAR = {ch: viseme for viseme, chars in _SINGLE.items() for ch in chars}

assert set(_BY_CHAR.values()) <= set(VISEMES)


def phoneme_to_viseme(phoneme: str) -> str:
    """The viseme for one phoneme symbol; pauses and unknown symbols without letters are 'sil'."""
    symbol = "".join(ch for ch in phoneme if ch not in _IGNORED)
    if not symbol or symbol.startswith("_"):
        return "sil"
    for prefix, viseme in _PREFIXES:
        if symbol.startswith(prefix):
            return viseme
    for ch in symbol:
        if ch in _BY_CHAR:
            return _BY_CHAR[ch]
    return "E" if any(ch.isalpha() for ch in symbol) else "sil"
