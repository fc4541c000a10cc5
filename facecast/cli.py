"""The `facecast` command line. Errors print one line and exit non-zero; long work shows a bar with ETA."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_support import AsJson, Quiet, Verbose, echo_result, fail, run_or_exit, run_with_progress, setup_logging
from .cli_options import OptionValues, option_flags, options_or_exit
from .engine.options import GenerateOptions, TrackingOptions
from .engine.progress import CancelToken

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="facecast: lip-synced talking videos from a template and speech, on your own machine.")

CacheDir = Annotated[Optional[Path], typer.Option(help="Template cache (default $FACECAST_CACHE_DIR or ~/.cache/facecast/templates).")]


@app.command()
@option_flags(GenerateOptions)
def generate(
    template: Annotated[Path, typer.Option("--template", "-t", help="Template video (mp4/mov/webm/mkv) or photo (jpg/png/webp).")],
    audio: Annotated[Path, typer.Option("--audio", "-a", help="Speech: wav/mp3/m4a/aac/ogg/opus/flac, or a video's audio track.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="MP4 to write.")],
    option_values: OptionValues,
    cache_dir: CacheDir = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Lip-sync speech onto a template and write an MP4, then measure its lip-sync (the quality gate)."""
    from .engine.pipeline import generate as run_generate
    from .engine.quality import RenderedSample, gate_or_raise

    setup_logging(verbose)
    options, cancel, sample = options_or_exit(GenerateOptions, option_values), CancelToken(), RenderedSample()
    started = time.monotonic()
    result = run_with_progress(lambda report: run_generate(template, audio, output, options, cache_dir=cache_dir,
                                                           progress=report, cancel=cancel, sample=sample), quiet)
    render_s = time.monotonic() - started
    quality = run_or_exit(lambda: gate_or_raise(result.output, options.quality, render_s, sample=sample))
    echo_result([f"wrote {result.output} ({result.duration_s:.2f} s, {result.width}x{result.height} @ "
                 f"{result.fps:g} fps, {result.renderer})", quality.summary()],
                {**result.as_dict(), "render_s": round(render_s, 3), "quality": quality.as_dict()}, as_json)


@app.command()
@option_flags(TrackingOptions)
def prepare(
    template: Annotated[Path, typer.Argument(help="Template video or photo.")],
    option_values: OptionValues,
    cache_dir: CacheDir = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Track the face through a template once; later jobs on it skip tracking."""
    from .engine.pipeline import prepare_template

    setup_logging(verbose)
    options = options_or_exit(TrackingOptions, option_values)
    prepared = run_with_progress(lambda report: prepare_template(template, cache_dir=cache_dir, options=options,
                                                                 progress=report), quiet)
    facts = prepared.facts
    typer.echo(f"prepared {template.name}: {facts.width}x{facts.height} @ {facts.fps:g} fps, {facts.duration_s:.2f} s, "
               f"face in {facts.face_coverage:.0%} of frames, mouth range {facts.mouth_range:.3f} "
               f"({'talking: own mouths' if facts.talking else 'still mouth: parametric'}); cache {prepared.cache_path}")


@app.command()
def probe(
    path: Annotated[Path, typer.Argument(help="A template or audio file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    cache_dir: CacheDir = None,
) -> None:
    """What facecast sees in a file: size, fps, duration, rotation, audio, and for templates the face."""
    from .engine.media import probe as probe_media
    from .engine.pipeline import prepare_template

    info = run_or_exit(lambda: probe_media(path))
    report: dict[str, object] = {
        "file": str(path), "kind": info.kind, "width": info.width, "height": info.height, "fps": round(info.fps, 3),
        "frames": info.frame_count, "duration_s": round(info.duration_s, 3), "rotation": info.rotation,
        "audio": {"sample_rate": info.audio_sample_rate, "channels": info.audio_channels, "codec": info.audio_codec}
        if info.has_audio else None,
    }
    if info.kind != "audio":
        facts = run_or_exit(lambda: prepare_template(path, cache_dir=cache_dir)).facts
        report.update(face_coverage=round(facts.face_coverage, 3), mouth_range=round(facts.mouth_range, 3),
                      talking=facts.talking)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        typer.echo(f"{key:>14}: {value}")


@app.command("eval")
def evaluate_command(
    video: Annotated[Path, typer.Argument(help="A generated video.")],
    audio: Annotated[Optional[Path], typer.Option(help="The speech it should follow (default: the video's own track).")] = None,
    template: Annotated[Optional[Path], typer.Option(help="The template it was made from: enables the PSNR check.")] = None,
    start_frame: Annotated[int, typer.Option(help="The start frame used when generating.")] = 0,
    sheet: Annotated[Optional[Path], typer.Option(help="Write a contact sheet PNG here.")] = None,
    phonemes: Annotated[Optional[Path], typer.Option(help="Phoneme timings JSON from `facecast say --timings`: adds the bilabial check.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Measure lip-sync: opening-vs-speech correlation and lag, closure in pauses, travel, PSNR outside the mouth."""
    from .engine.evaluate import contact_sheet, evaluate

    timings = _read_phonemes(phonemes) if phonemes is not None else []
    report, tracks = run_or_exit(lambda: evaluate(video, audio, template, start_frame, phonemes=timings))
    if sheet is not None:
        contact_sheet(video, tracks, template, sheet, start_frame)
    data = report.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            typer.echo(f"{key:>22}: {value}")
        if sheet is not None:
            typer.echo(f"{'contact sheet':>22}: {sheet}")


@app.command("export-onnx")
def export_onnx_command(
    weights: Annotated[Path, typer.Argument(help="A Wav2Lip or Wav2Lip-GAN checkpoint (.pth).")],
    output: Annotated[Optional[Path], typer.Argument(help="The .onnx file to write (default: beside the weights).")] = None,
    opset: Annotated[Optional[int], typer.Option(min=13, help="ONNX opset (default: the one facecast tests with).")] = None,
    verbose: Verbose = False,
) -> None:
    """Export a Wav2Lip checkpoint to ONNX, so machines without PyTorch can run it with onnxruntime."""
    from .engine.neural.export import export_onnx

    setup_logging(verbose)
    target = output if output is not None else weights.with_suffix(".onnx")
    written = run_or_exit(lambda: export_onnx(weights, target) if opset is None else export_onnx(weights, target, opset))
    typer.echo(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB); use it with --backend wav2lip --weights {written}")


def _read_phonemes(path: Path) -> list:
    from .engine.speech_types import PhonemeTiming

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [PhonemeTiming(**item) for item in data["phonemes"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise fail(f"cannot read phoneme timings from {path}: {error}; write them with `facecast say --timings`") from None


def _register_optional_commands() -> None:
    """Commands from layers above the engine register themselves when their package is importable."""
    import importlib

    for module in ("facecast.voice.cli", "facecast.service.cli", "facecast.integrations.cli"):
        try:
            imported = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name and (error.name == module or module.startswith(error.name + ".")):
                continue
            raise
        imported.register(app)


_register_optional_commands()


if __name__ == "__main__":
    app()
