"""Option dataclasses for each engine stage. Each user-facing option is declared once here, with its default,
bounds and help; the CLI flags, API fields, service settings and job record are derived from it (optionspec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .errors import InvalidOptionError
from .optionspec import check_options, option

RenderMode = Literal["auto", "mouthbank", "parametric"]
QualityAction = Literal["review", "fail"]


@dataclass(frozen=True, slots=True)
class TrackingOptions:
    """How faces are found and followed in a template."""

    face: str = option("largest", "Which face: 'largest' or an index counted left to right from 0.")
    min_face_height_px: int = 48   # faces smaller than this, even after upscaling, are rejected
    smoothing: float = 0.6         # 0 = raw landmarks, towards 1 = steadier (one-euro style filter strength)

    def __post_init__(self) -> None:
        if self.face != "largest" and not self.face.isdigit():
            raise InvalidOptionError(f"face must be 'largest' or a face index such as 0, got {self.face!r}")
        if not 0.0 <= self.smoothing < 1.0:  # not user-facing: the bound is exclusive
            raise InvalidOptionError(f"smoothing must be in [0, 1), got {self.smoothing}")


@dataclass(frozen=True, slots=True)
class MotionOptions:
    """How speech becomes mouth motion."""

    lead_ms: float = option(35.0, "How far the mouth leads the sound, in ms (0-40 looks natural).", min=0.0, max=40.0)
    intensity: float = option(1.0, "How far the mouth opens, 0.2-2.0; 1.0 is natural.", min=0.2, max=2.0, api=True)
    use_phonemes: bool = True  # prefer phoneme timings over audio analysis when they are available

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Which mouth renderer draws the lips."""

    mode: RenderMode = option("auto", "Mouth renderer: auto (the person's own mouths when the template talks, "
                              "else parametric), mouthbank or parametric.", name="render_mode", flag="mode", api=True)
    backend: str = option("classical", "classical (no weights) or wav2lip (needs --weights).")
    weights_path: str | None = option(None, "Model weights for a neural backend.", flag="weights")
    batch_size: int | None = option(None, "Frames per neural model call; unset picks from free GPU memory (8 on a "
                                    "CPU).", min=1, max=1024)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """How the MP4 is written."""

    crf: int = option(23, "x264 quality, 0-51: lower is better and bigger.", min=0, max=51, api=True)
    # veryfast keeps generation near transcode speed
    preset: str = option("veryfast", "x264 speed preset.")
    max_height: int | None = option(None, "Scale taller templates down to this height; unset keeps the template "
                                    "size.", min=64, max=4320, api=True)
    start_frame: int = option(0, "Template frame the video starts on.", min=0)
    # Threads x264 and the template's decoder may each use; 0 lets them choose from the cores. Not a user
    # option: a worker rendering several videos at once gives each its share of the cores, where codec threads
    # of their own would only hand work back and forth (8-15% more CPU for a 240p video).
    codec_threads: int = 0

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits that protect a shared machine: a small file can declare a huge picture or sample rate.

    Each is checked from the file's headers before anything is decoded.
    """

    max_audio_s: float = option(1800.0, "Refuse audio longer than this many seconds.", min=1.0, setting=True)
    # studio recordings go to 192 kHz, anything above is not speech
    max_sample_rate: int = option(192_000, "Refuse audio declaring a higher sample rate, in Hz.", min=8000,
                                  flag=False, setting=True)
    # 4K UHD, either orientation
    max_pixels: int = option(3840 * 2160, "Refuse templates with more pixels per frame.", min=64 * 64, flag=False,
                             setting=True)
    # template videos are looped, so an hour is plenty
    max_template_s: float = option(3600.0, "Refuse template videos longer than this many seconds.", min=1.0,
                                   flag=False, setting=True)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, slots=True)
class QualityOptions:
    """The lip-sync gate: how well a finished video must sync, and what happens to one that does not."""

    # sun.mp4 + eng.wav measures 0.95-0.99, talking_woman_480.mp4 + sun.wav 0.7-0.77
    min_sync_r: float = option(0.5, "Lowest opening-vs-speech correlation a video passes with, 0-1.", min=0.0,
                               max=1.0, api=True)
    # a correct video measures 0-40 ms (the mouth leads by lead_ms); viewers notice sound 100-200 ms late
    max_offset_ms: float = option(200.0, "Largest audio-vs-mouth offset, in ms, a video passes with.", min=50.0,
                                  max=800.0, api=True)
    action: QualityAction = option("review", "What a video below min_sync_r gets: review (delivered, flagged "
                                   "needs_review) or fail (not delivered, error low_sync_quality).",
                                   name="quality_action", api=True)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """Everything `generate` can be told, grouped by stage."""

    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    motion: MotionOptions = field(default_factory=MotionOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    limits: Limits = field(default_factory=Limits)
    quality: QualityOptions = field(default_factory=QualityOptions)
