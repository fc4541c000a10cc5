"""Voice benchmark: real-time factor of synthesis and of text -> video, and phoneme-level lip-sync quality.

Writes bench/results_voice.md. Run with `.venv/bin/python bench/voice_bench.py` (part of `make bench`).
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facecast.voice.base import synthesize_stream, write_speech
from facecast.engine.evaluate import bilabial_closure_rate
from facecast.voice.say import SayRequest, say_to_video

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / ".." / "shared" / "media"
PARAGRAPH = (
    "Peter bought my map before the big meeting on Monday. Maybe the best plan is to build a better model, "
    "but people prefer simple pictures. My brother paints blue boats by the pier, and his mother makes "
    "pumpkin pie for the whole family. "
)
TARGET_SPEECH_S = 120.0


def _text_for(seconds: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        once = write_speech(synthesize_stream(PARAGRAPH), Path(tmp) / "probe.wav").duration_s
    return PARAGRAPH * max(1, int(np.ceil(seconds / once)))


def bench_synthesis(text: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        speech = write_speech(synthesize_stream(text), Path(tmp) / "speech.wav")
        return speech.duration_s, time.perf_counter() - started


def bench_text_to_video(text: str, template: Path, workdir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    result = say_to_video(SayRequest(template=template, text=text, output=workdir / "long.mp4"), cache_dir=workdir / "cache")
    return result.duration_s, time.perf_counter() - started


def bench_lip_sync(template: Path, workdir: Path) -> dict[str, float]:
    from facecast.engine.evaluate import evaluate, measure_openings

    result = say_to_video(SayRequest(template=template, text=PARAGRAPH, output=workdir / "eval.mp4"), cache_dir=workdir / "cache")
    _, openings, fps = measure_openings(result.video.output)
    report, _ = evaluate(result.video.output)
    bilabials = sum(p.viseme == "PP" for p in result.phonemes)
    return {"bilabials": bilabials, "closure_rate": bilabial_closure_rate(result.phonemes, openings, fps),
            "sync_r": report.sync_r, "sync_lag_ms": report.sync_lag_ms}


def main() -> None:
    template = MEDIA / (sys.argv[1] if len(sys.argv) > 1 else "sun.mp4")
    text = _text_for(TARGET_SPEECH_S)
    speech_s, synth_s = bench_synthesis(text)
    with tempfile.TemporaryDirectory() as tmp:
        lip = bench_lip_sync(template, Path(tmp))
        video_s, total_s = bench_text_to_video(text, template, Path(tmp))
    lines = [
        "# Voice benchmark", "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}; "
        f"voice espeak:en-us; template {template.name}.", "",
        "| measurement | value |", "| --- | --- |",
        f"| text length | {len(text)} characters |",
        f"| synthesis: speech / wall time | {speech_s:.1f} s / {synth_s:.2f} s, RTF {synth_s / speech_s:.4f} |",
        f"| text -> video: speech / wall time | {video_s:.1f} s / {total_s:.1f} s, RTF {total_s / video_s:.3f} |",
        f"| bilabials closed within +-40 ms | {lip['closure_rate']:.1%} of {lip['bilabials']} /p b m/ (target >= 80%) |",
        f"| opening vs envelope r | {lip['sync_r']:.3f} at {lip['sync_lag_ms']:.0f} ms (target >= 0.7) |",
        "", "RTF = wall time / speech duration (lower is faster; below 1 is faster than real time). Lip-sync "
        "figures re-track a video of one English paragraph made with `say` (template tracking cached).", "",
    ]
    out = ROOT / "bench" / "results_voice.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
