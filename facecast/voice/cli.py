"""`facecast voices` and `facecast say`: registered onto the main CLI by register(app)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from facecast.cli_options import OptionValues, option_flags
from facecast.cli_support import AsJson, Quiet, echo_result, fail, run_or_exit, run_with_progress
from facecast.engine.options import GenerateOptions, QualityOptions
from facecast.engine.optionspec import build_options

from .options import (DEFAULT_VOICE, OpenAIServerConfig, PiperVoiceConfig, SubtitleOptions, SynthesisOptions,
                      VoiceConfig)
from .registry import LANGUAGE_ALIASES, list_voices
from .text import MAX_TEXT_CHARS

PiperOption = Annotated[Optional[Path], typer.Option("--piper", help="A Piper voice .onnx (its .onnx.json beside it); use --voice piper:<file stem>.")]
TtsUrlOption = Annotated[Optional[str], typer.Option("--tts-url", help="Base URL of an OpenAI-compatible speech server, e.g. http://127.0.0.1:9880/v1; use --voice openai:server/<voice>.")]
TtsModelOption = Annotated[str, typer.Option("--tts-model", help="Model name sent to the speech server.")]
TtsKeyOption = Annotated[Optional[str], typer.Option("--tts-key", envvar="FACECAST_TTS_KEY", help="Bearer key for the speech server.")]


def voice_config(piper: Path | None, tts_url: str | None, tts_model: str, tts_key: str | None,
                 tts_voice: str | None = None) -> VoiceConfig:
    """A VoiceConfig from the command-line flags."""
    piper_voices = (PiperVoiceConfig(piper.name.removesuffix(".onnx"), piper),) if piper else ()
    servers = ()
    if tts_url:
        servers = (OpenAIServerConfig("server", tts_url, tts_model, (tts_voice or "alloy",), tts_key),)
    return VoiceConfig(piper=piper_voices, openai=servers)


def voices(
    engine: Annotated[Optional[str], typer.Option(help="Only this engine: espeak, piper or openai.")] = None,
    language: Annotated[Optional[str], typer.Option(help="Only languages starting with this, e.g. en, cmn or zh.")] = None,
    piper: PiperOption = None,
    tts_url: TtsUrlOption = None,
    tts_model: TtsModelOption = "tts-1",
    tts_key: TtsKeyOption = None,
) -> None:
    """List the voices `say` can use: id, engine, language, gender."""
    found = run_or_exit(lambda: list_voices(voice_config(piper, tts_url, tts_model, tts_key)))
    wanted = LANGUAGE_ALIASES.get(language.lower().replace("_", "-"), language.lower()) if language else ""
    rows = [v for v in found if (not engine or v.engine == engine) and (v.language or "").startswith(wanted)]
    width = max([len(v.id) for v in rows] + [2])
    typer.echo(f"{'id':<{width}}  {'engine':<7} {'language':<16} gender")
    for v in rows:
        typer.echo(f"{v.id:<{width}}  {v.engine:<7} {v.language or '?':<16} {v.gender or '-'}")


@option_flags(SynthesisOptions, SubtitleOptions, QualityOptions)
def say(
    template: Annotated[Path, typer.Option("--template", "-t", help="Template video or photo.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="MP4 to write.")],
    text: Annotated[Optional[str], typer.Option("--text", help=f"What to say (up to {MAX_TEXT_CHARS:,} characters).")] = None,
    text_file: Annotated[Optional[Path], typer.Option("--text-file", help="UTF-8 file with what to say.")] = None,
    voice: Annotated[str, typer.Option("--voice", "-v", help="Voice id from `facecast voices`.")] = DEFAULT_VOICE,
    *,
    option_values: OptionValues,
    srt: Annotated[Optional[Path], typer.Option(help="SRT file to write (default: beside the MP4).")] = None,
    vtt: Annotated[Optional[Path], typer.Option(help="WebVTT file to write (default: beside the MP4).")] = None,
    timings: Annotated[Optional[Path], typer.Option(help="Write the phoneme and word timings as JSON (for `facecast eval --phonemes`).")] = None,
    subtitle_font: Annotated[Optional[Path], typer.Option(help="Font for burned subtitles (default: an installed CJK font).")] = None,
    subtitle_size: Annotated[Optional[int], typer.Option(help="Burned subtitle size in pixels (default: height / 20).")] = None,
    subtitle_position: Annotated[str, typer.Option(help="bottom or top.")] = "bottom",
    subtitle_outline: Annotated[int, typer.Option(help="Outline width in pixels.")] = 2,
    piper: PiperOption = None,
    tts_url: TtsUrlOption = None,
    tts_model: TtsModelOption = "tts-1",
    tts_key: TtsKeyOption = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Speak a text with a voice and lip-sync it onto a template; writes the MP4 and its subtitles."""
    from .burn import SubtitleStyle
    from facecast.engine.quality import RenderedSample, gate_or_raise

    from .say import SayRequest, say_to_video

    if (text is None) == (text_file is None):
        raise fail("give exactly one of --text or --text-file")
    subtitles = run_or_exit(lambda: build_options(SubtitleOptions, option_values)).mode
    quality_options = run_or_exit(lambda: build_options(QualityOptions, option_values))
    if text_file is not None:
        try:
            text = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise fail(f"cannot read {text_file}: {error}") from None
    tts_voice = voice.partition("/")[2] if voice.startswith("openai:") else None
    request = run_or_exit(lambda: SayRequest(
        template=template, text=text or "", voice=voice, output=output,
        synthesis=build_options(SynthesisOptions, option_values),
        generate=GenerateOptions(quality=quality_options),
        voice_config=voice_config(piper, tts_url, tts_model, tts_key, tts_voice),
        srt_path=srt or output.with_suffix(".srt"), vtt_path=vtt or output.with_suffix(".vtt"),
        burn=SubtitleStyle(subtitle_font, subtitle_size, subtitle_position, None, subtitle_outline)  # type: ignore[arg-type]
        if subtitles == "burn" else None,
        soft=subtitles == "soft",
    ))
    started = time.monotonic()
    sample = RenderedSample()
    result = run_with_progress(lambda report: say_to_video(request, progress=report, sample=sample), quiet)
    render_s = time.monotonic() - started
    quality = run_or_exit(lambda: gate_or_raise(result.video.output, quality_options, render_s, sample=sample))
    if timings is not None:
        write_timings(timings, result.phonemes, result.words)
    echo_result([f"wrote {result.video.output} ({result.duration_s:.2f} s, {len(result.phonemes)} phonemes), "
                 f"{result.srt_path}, {result.vtt_path}", quality.summary()],
                {**result.video.as_dict(), "render_s": round(render_s, 3), "srt": _text(result.srt_path),
                 "vtt": _text(result.vtt_path), "phonemes": len(result.phonemes), "quality": quality.as_dict()},
                as_json)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def write_timings(path: Path, phonemes: list, words: list) -> None:
    """Phoneme and word timings as JSON, written atomically."""
    import dataclasses

    from facecast.engine.files import write_json_atomic

    data = {"phonemes": [dataclasses.asdict(p) for p in phonemes], "words": [dataclasses.asdict(w) for w in words]}
    write_json_atomic(path, data, indent=1)


def register(app: typer.Typer) -> None:
    """Add `voices` and `say` to the facecast CLI."""
    app.command("voices")(voices)
    app.command("say")(say)
