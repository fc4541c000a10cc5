"""Text to video: synthesise sentence by sentence into a WAV, lip-sync it, write subtitles.

This is what `facecast say` and the service's text jobs call. The voice layer owns synthesis and
subtitles; the engine's generate() draws the mouth from the phoneme timings.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from facecast.engine.options import EncodeOptions, GenerateOptions
from facecast.engine.progress import NEVER_CANCELED, CancelToken, Progress, no_progress
from facecast.engine.speech_types import AudioClip, PhonemeTiming, WordTiming

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
    from facecast.engine.pipeline import generate

    stream = synthesize_stream(request.text, request.voice, request.synthesis, request.voice_config)
    output = Path(request.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".facecast-say-", dir=output.parent) as workdir:
        speech = write_speech(_counted(stream, progress, cancel), Path(workdir) / "speech.wav")
        clip = speech.load_clip()
        cues = build_cues(speech.words, request.cues)
        plain = output if request.burn is None else Path(workdir) / "plain.mp4"
        generate(request.template, clip, plain, request.generate, cache_dir=cache_dir, progress=progress, cancel=cancel)
        if request.burn is not None:
            burn_into_video(plain, clip, cues, request.burn, output, request.generate.encode, progress, cancel)
    srt = write_srt(cues, request.srt_path) if request.srt_path else None
    vtt = write_vtt(cues, request.vtt_path) if request.vtt_path else None
    return SayResult(output, speech.duration_s, srt, vtt, cues, speech.phonemes, speech.words)


def _counted(stream, progress: Progress, cancel: CancelToken):
    for index, clip in enumerate(stream, start=1):
        cancel.raise_if_canceled()
        progress("speaking", index, index + 1)
        yield clip


def burn_into_video(
    video: Path,
    audio: AudioClip,
    cues: list[Cue],
    style: SubtitleStyle,
    output: Path,
    encode: EncodeOptions = EncodeOptions(),
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
) -> Path:
    """Re-encode `video` with the cues drawn in. A second encode: the encoder has no frame hook yet."""
    from facecast.engine.encode import VideoWriter, atomic_output
    from facecast.engine.media import iter_frames, probe

    info = probe(video)
    burner = SubtitleBurner(cues, info.width, info.height, style)
    with atomic_output(output) as temporary:
        with VideoWriter(temporary, info.width, info.height, info.fps, audio, encode) as writer:
            for index, frame in enumerate(iter_frames(video, info)):
                cancel.raise_if_canceled()
                writer.write(burner.draw(frame, (index + 0.5) / info.fps))
                if index % 10 == 0:
                    progress("subtitles", index + 1, info.frame_count)
    return output
