"""The AAC packets of the last speech encoded, kept for the next video that carries the same speech.

The videos of a batch share one decoded clip and, on templates of one frame rate, one length: their sound
tracks are the same bytes. Encoding 3 s of speech costs about 25 ms, a tenth of a small video's render, so the
second and later videos mux the first one's packets instead of encoding the speech again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction

import av

from .speech_types import AudioClip


@dataclass(frozen=True, slots=True)
class SpeechPacket:
    data: bytes
    pts: int
    dts: int
    duration: int
    time_base: Fraction

    def packet(self, stream: av.audio.stream.AudioStream) -> av.Packet:
        """A packet of `stream` holding this one's bytes and timing."""
        packet = av.Packet(self.data)
        packet.stream = stream
        packet.pts, packet.dts, packet.duration, packet.time_base = self.pts, self.dts, self.duration, self.time_base
        packet.is_keyframe = True  # every AAC frame decodes on its own
        return packet


def recorded(packets: list[av.Packet]) -> list[SpeechPacket]:
    return [SpeechPacket(bytes(p), p.pts, p.dts, p.duration, p.time_base) for p in packets]


class SpeechPacketMemo:
    """One entry: the packets of one clip encoded at one rate and cut at one sample count. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[AudioClip, tuple[int, int], list[SpeechPacket]] | None = None
        self.hits = 0  # videos that muxed kept packets, for tests and logs

    def get(self, clip: AudioClip, rate: int, samples: int) -> list[SpeechPacket] | None:
        with self._lock:
            kept = self._kept
            if kept is None or kept[0] is not clip or kept[1] != (rate, samples):
                return None
            self.hits += 1
            return kept[2]

    def keep(self, clip: AudioClip, rate: int, samples: int, packets: list[SpeechPacket]) -> None:
        """Keep `packets`, the whole track of `clip` at `rate` cut at `samples` (the clip is held, so its identity
        cannot be reused by another clip while kept)."""
        with self._lock:
            self._kept = (clip, (rate, samples), packets)


SPEECH_PACKETS = SpeechPacketMemo()
