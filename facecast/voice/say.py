"""Text to video: speech, subtitle cues, subtitle files and tracks, then the engine's generate().

The one text-to-video path: `facecast say` calls it as it is; the service's worker plugs in its speech cache
and points the subtitle files into its work directory. The engine draws the mouth from the phoneme timings.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from facecast.engine.options import GenerateOptions
from facecast.engine.progress import NEVER_CANCELED, CancelToken, Progress, no_progress
from facecast.engine.results import GenerateResult, PreparedTemplate
from facecast.engine.speech_types import AudioClip, PhonemeTiming, WordTiming

from .base import DEFAULT_VOICE, SynthesisOptions, SynthesizedSpeech, VoiceConfig, synthesize_stream, write_speech
from .burn import SubtitleStyle, burn_hook
from .subtitles import Cue, CueOptions, build_cues, soft_track, write_srt, write_vtt

if TYPE_CHECKING:
    from facecast.engine.quality import RenderedSample

SpeechSource = Callable[[], SynthesizedSpeech]  # the request's text already spoken, e.g. from a cache

log = logging.getLogger("facecast.voice")


@dataclass(frozen=True, slots=True)
class SayRequest:
    """A text job: what to say, with which voice, onto which template, and which subtitles to make."""

    template: Path | PreparedTemplate  # prepared: the file is not hashed again
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
    video: GenerateResult
    duration_s: float                # of the speech
    srt_path: Path | None
    vtt_path: Path | None
    cues: list[Cue]
    phonemes: list[PhonemeTiming]
    words: list[WordTiming]


def say_to_video(
    request: SayRequest,
    *,
    speech: SpeechSource | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
    sample: RenderedSample | None = None,
) -> SayResult:
    """Speak request.text and lip-sync it onto request.template, with the subtitles the request asks for.

    Args:
        request: text, voice, template, output and subtitle choices; srt_path and vtt_path say where the
            subtitle files go.
        speech: returns request.text already spoken (the service's cache); None synthesises it into a
            temporary file beside the output.
        cache_dir: where templates given as a path are prepared (see prepare_template).
        sample: takes the quality gate's frames as the video is written (see engine.pipeline.generate).
    Raises:
        EmptyTextError, TextTooLongError, UnknownVoiceError, UnsupportedLanguageError before any work;
        TTSUnreachableError when a speech server is down (retryable); engine errors from generate().
    """
    output = Path(request.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if speech is not None:
        return _speak_onto_template(request, speech(), cache_dir, progress, cancel, sample)
    stream = synthesize_stream(request.text, request.voice, request.synthesis, request.voice_config)
    with tempfile.TemporaryDirectory(prefix=".facecast-say-", dir=output.parent) as workdir:
        spoken = write_speech(_counted(stream, progress, cancel), Path(workdir) / "speech.wav")
        return _speak_onto_template(request, spoken, cache_dir, progress, cancel, sample)


def _speak_onto_template(request: SayRequest, spoken: SynthesizedSpeech, cache_dir: Path | None,
                         progress: Progress, cancel: CancelToken, sample: RenderedSample | None) -> SayResult:
    from facecast.engine.pipeline import generate, prepare_template

    template = request.template
    if not isinstance(template, PreparedTemplate):  # prepared here: its fps times the burned cues
        template = prepare_template(Path(template), cache_dir=cache_dir, options=request.generate.tracking,
                                    progress=progress, cancel=cancel)
    cues = build_cues(spoken.words, request.cues)
    hook = burn_hook(cues, request.burn, template.facts.fps) if request.burn is not None and cues else None
    video = generate(template, spoken.load_clip(), request.output, request.generate, progress=progress,
                     cancel=cancel, subtitles=soft_track(cues) if request.soft else (), frame_hook=hook, sample=sample)
    srt = write_srt(cues, request.srt_path) if request.srt_path else None
    vtt = write_vtt(cues, request.vtt_path) if request.vtt_path else None
    return SayResult(video, spoken.duration_s, srt, vtt, cues, spoken.phonemes, spoken.words)


def _counted(stream: Iterator[AudioClip], progress: Progress, cancel: CancelToken) -> Iterator[AudioClip]:
    for index, clip in enumerate(stream, start=1):
        cancel.raise_if_canceled()
        progress("speaking", index, index + 1)
        yield clip
