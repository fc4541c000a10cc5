"""Option dataclasses for each engine stage. CLI flags and API fields mirror these; defaults live here once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .errors import InvalidOptionError

RenderMode = Literal["auto", "mouthbank", "parametric"]


@dataclass(frozen=True, slots=True)
class TrackingOptions:
    """How faces are found and followed in a template."""

    face: str = "largest"          # "largest", or a 0-based index of faces ordered left to right
    min_face_height_px: int = 48   # faces smaller than this, even after upscaling, are rejected
    smoothing: float = 0.6         # 0 = raw landmarks, towards 1 = steadier (one-euro style filter strength)

    def __post_init__(self) -> None:
        if self.face != "largest" and not self.face.isdigit():
            raise InvalidOptionError(f"face must be 'largest' or a face index such as 0, got {self.face!r}")
        if not 0.0 <= self.smoothing < 1.0:
            raise InvalidOptionError(f"smoothing must be in [0, 1), got {self.smoothing}")


@dataclass(frozen=True, slots=True)
class MotionOptions:
    """How speech becomes mouth motion."""

    lead_ms: float = 35.0      # the mouth moves this much before the sound (0-40 ms looks natural)
    intensity: float = 1.0     # scales how far the mouth opens
    use_phonemes: bool = True  # prefer phoneme timings over audio analysis when they are available

    def __post_init__(self) -> None:
        if not 0.0 <= self.lead_ms <= 40.0:
            raise InvalidOptionError(f"lead_ms must be between 0 and 40, got {self.lead_ms}")
        if not 0.2 <= self.intensity <= 2.0:
            raise InvalidOptionError(f"intensity must be between 0.2 and 2.0, got {self.intensity}")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Which mouth renderer draws the lips."""

    mode: RenderMode = "auto"          # auto: the person's own mouths when the template talks, else parametric
    backend: str = "classical"         # "classical" (no weights) or "wav2lip" (needs weights_path)
    weights_path: str | None = None    # model weights for neural backends

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "mouthbank", "parametric"):
            raise InvalidOptionError(f"mode must be auto, mouthbank or parametric, got {self.mode!r}")


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """How the MP4 is written."""

    crf: int = 23                  # x264 quality: lower is better and bigger, 0-51
    preset: str = "veryfast"       # x264 speed preset; veryfast keeps generation near transcode speed
    max_height: int | None = None  # downscale taller templates; None keeps the template size
    start_frame: int = 0           # template frame the output starts on

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise InvalidOptionError(f"crf must be 0-51, got {self.crf}")
        if self.max_height is not None and self.max_height < 64:
            raise InvalidOptionError(f"max_height must be at least 64, got {self.max_height}")
        if self.start_frame < 0:
            raise InvalidOptionError(f"start_frame must be >= 0, got {self.start_frame}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits that protect a shared machine: a small file can declare a huge picture or sample rate.

    Each is checked from the file's headers before anything is decoded.
    """

    max_audio_s: float = 1800.0          # 30 minutes
    max_sample_rate: int = 192_000       # Hz; studio recordings go to 192 kHz, anything above is not speech
    max_pixels: int = 3840 * 2160        # per template frame (4K UHD, either orientation)
    max_template_s: float = 3600.0       # template videos are looped, so an hour is plenty

    def __post_init__(self) -> None:
        if self.max_audio_s <= 0 or self.max_template_s <= 0:
            raise InvalidOptionError("max_audio_s and max_template_s must be positive")
        if self.max_sample_rate < 8000 or self.max_pixels < 64 * 64:
            raise InvalidOptionError("max_sample_rate must be at least 8000 and max_pixels at least 4096")


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """Everything `generate` can be told, grouped by stage."""

    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    motion: MotionOptions = field(default_factory=MotionOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    limits: Limits = field(default_factory=Limits)
