"""Results of the engine's public calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TemplateFacts:
    """What a template is, as shown to users (API template facts, `facecast probe`)."""

    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    rotation: int            # degrees the stored frames were rotated to display upright
    is_still: bool           # made from a photo
    face_coverage: float     # share of frames with a tracked face, 0-1
    mouth_range: float       # 90th - 10th percentile inner-lip opening / face height
    talking: bool            # the template's own mouth moves enough to build a mouth bank from


@dataclass(frozen=True, slots=True)
class PreparedTemplate:
    """A tracked template: where its cache lives and its facts. Preparing again is free."""

    source: Path
    content_hash: str
    cache_path: Path         # directory holding tracks.npz, facts.json, thumbnail.jpg, mouthbank
    facts: TemplateFacts

    @property
    def thumbnail_path(self) -> Path:
        return self.cache_path / "thumbnail.jpg"


@dataclass(frozen=True, slots=True)
class GenerateResult:
    """A finished video."""

    output: Path
    duration_s: float
    frame_count: int
    width: int
    height: int
    fps: float
    renderer: str            # "mouthbank" or "parametric" (or a neural backend's name)

    def as_dict(self) -> dict:
        """JSON-ready fields (`facecast generate --json`)."""
        return {**asdict(self), "output": str(self.output), "duration_s": round(self.duration_s, 3)}
