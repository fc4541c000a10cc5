"""Results of the engine's public calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .optionspec import described


@dataclass(frozen=True, slots=True)
class TemplateFacts:
    """What a template is, as shown to users (API template facts, `facecast probe`)."""

    width: int = described("Pixels, as displayed")
    height: int = described("Pixels, as displayed")
    fps: float = described("Frames per second")
    frame_count: int = described("Frames")
    duration_s: float = described("Seconds")
    rotation: int = described("Degrees the stored frames were rotated to display upright")
    is_still: bool = described("Made from a photo")
    face_coverage: float = described("Share of frames with a tracked face, 0-1")
    mouth_range: float = described("90th minus 10th percentile of the inner-lip opening / face height")
    talking: bool = described("The template's own mouth moves (its mouth shapes can be reused)")


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


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Measured lip-sync of one finished video, and the gate's verdict."""

    sync_r: float | None = described(
        "Correlation of mouth opening with the speech envelope at the best lag in -40..120 ms; null: no face seen")
    sync_lag_ms: float | None = described("That lag; positive: the sound comes after the picture")
    offset_ms: float | None = described("Lag of the best correlation within +-800 ms: where the sound really sits")
    closed_in_silence: float | None = described("Share of measured frames in pauses with a closed mouth")
    travel: float | None = described("90th minus 10th percentile of the mouth opening / face height")
    face_coverage: float = described("Share of measured frames with a face")
    frames_measured: int = described("Frames tracked for the measure")
    frame_count: int = described("Frames in the video")
    measure_s: float = described(
        "Seconds the check spent: the CPU time of tracking its frames (alongside the render) plus the "
        "comparison after it")
    cost_ratio: float | None = described(
        "measure_s divided by the render's wall time, when that time is known: an upper bound of what the check "
        "adds, since its tracking runs beside the render")
    min_sync_r: float = described("The threshold applied to sync_r")
    max_offset_ms: float = described("The threshold applied to offset_ms")
    passed: bool = described("sync_r and offset_ms within the thresholds")

    @property
    def needs_review(self) -> bool:
        return not self.passed

    def as_dict(self) -> dict:
        """JSON-ready figures, rounded, with needs_review."""
        data = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        return {**data, "needs_review": self.needs_review}

    def figures(self) -> str:
        """The measures in a few words."""
        return (f"sync r {_shown(self.sync_r, '.2f')} at {_shown(self.sync_lag_ms, '.0f')} ms, audio offset "
                f"{_shown(self.offset_ms, '.0f')} ms, closed in pauses {_shown(self.closed_in_silence, '.0%')}, "
                f"travel {_shown(self.travel, '.3f')}")

    def summary(self) -> str:
        """One line for people: the verdict, the figures and what the check cost."""
        verdict = "passed" if self.passed else (f"NEEDS REVIEW (gate: r >= {self.min_sync_r:g}, offset within "
                                                f"{self.max_offset_ms:g} ms)")
        cost = f"; check took {self.cost_ratio:.0%} of the render time" if self.cost_ratio is not None else ""
        return f"lip-sync {verdict}: {self.figures()}{cost}"


def _shown(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
