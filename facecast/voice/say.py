"""Text to video: synthesise sentence by sentence into a WAV, lip-sync it, write subtitles.

This is what `facecast say` and the service's text jobs call. The voice layer owns synthesis and
subtitles; the engine's generate() draws the mouth from the phoneme timings.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from facecast.engine.options import GenerateOptions
from facecast.engine.progress import NEVER_CANCELED, CancelToken, Progress, no_progress
from facecast.engine.speech_types import PhonemeTiming, SubtitleCue, WordTiming

from .base import DEFAULT_VOICE, SynthesisOptions, VoiceConfig, synthesize_stream, write_speech
from .burn import SubtitleBurner, SubtitleStyle
from .subtitles import Cue, CueOptions, build_cues, write_srt, write_vtt

log = logging.getLogger("facecast.voice")


@dataclass(frozen=True, slots=True)
class SayRequest:
    """A text job: what to say, with which voice, onto which template, and which subtitles to make."""

    template: Path
    text: str
    output: Path
    voice: str = DEFAULT_VOICE
    synthesis: SynthesisOptions = SynthesisOptions()
    voice_config: VoiceConfig = VoiceConfig()
    generate: GenerateOptions = field(default_factory=GenerateOptions)
    srt_path: Path | None = None     # None: no SRT file
    vtt_path: Path | None = None     # None: no WebVTT file
    burn: SubtitleStyle | None = None  # draw subtitles into the picture with this style
    soft: bool = False               # add a player-selectable subtitle track to the MP4
    cues: CueOptions = CueOptions()


@dataclass(frozen=True, slots=True)
class SayResult:
    video: Path
    duration_s: float
    srt_path: Path | None
    vtt_path: Path | None
    cues: list[Cue]
    phonemes: list[PhonemeTiming]
    words: list[WordTiming]


def say_to_video(
    request: SayRequest,
    *,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
) -> SayResult:
    """Speak request.text and lip-sync it onto request.template.

    Raises:
        EmptyTextError, TextTooLongError, UnknownVoiceError, UnsupportedLanguageError before any work;
        TTSUnreachableError when a speech server is down (retryable); engine errors from generate().
    """
    from facecast.engine.media import probe
    from facecast.engine.pipeline import generate

    stream = synthesize_stream(request.text, request.voice, request.synthesis, request.voice_config)
    output = Path(request.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".facecast-say-", dir=output.parent) as workdir:
        speech = write_speech(_counted(stream, progress, cancel), Path(workdir) / "speech.wav")
        clip = speech.load_clip()
        cues = build_cues(speech.words, request.cues)
        burn_hook = None
        if request.burn is not None:  # drawn into each frame as it is rendered: no second encode
            info = probe(Path(request.template))
            burner = SubtitleBurner(cues, info.width, info.height, request.burn)
            fps = 25.0 if info.kind == "image" else info.fps

            def burn_hook(frame, time_s):  # type: ignore[no-untyped-def]
                return burner.draw(frame, time_s + 0.5 / fps)

        soft_cues = [SubtitleCue(c.start_s, c.end_s, "\n".join(c.lines)) for c in cues] if request.soft else []
        generate(request.template, clip, output, request.generate, cache_dir=cache_dir, progress=progress,
                 cancel=cancel, subtitles=soft_cues, frame_hook=burn_hook)
    srt = write_srt(cues, request.srt_path) if request.srt_path else None
    vtt = write_vtt(cues, request.vtt_path) if request.vtt_path else None
    return SayResult(output, speech.duration_s, srt, vtt, cues, speech.phonemes, speech.words)


def _counted(stream, progress: Progress, cancel: CancelToken):
    for index, clip in enumerate(stream, start=1):
        cancel.raise_if_canceled()
        progress("speaking", index, index + 1)
        yield clip
