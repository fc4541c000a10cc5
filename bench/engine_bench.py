"""Engine benchmark: generation speed against a plain transcode, preparation speed, and peak memory.

Builds a 720x1280 30 fps portrait template from a shared clip and loops eng.wav to 60 s and 600 s, prepares the
template once, then times each job in its own `python -m facecast.cli` child process and reads that child's peak
RSS from os.wait4. The baseline is `transcode_plain` (decode + re-encode of the same number of frames with the
same EncodeOptions), timed in the same run, so the ratio survives a noisy shared machine better than seconds do.

    python bench/engine_bench.py [--quick] [--template sun|talking_man] [--out bench/results_engine.md]

--quick skips the 10-minute run and repeats nothing (a smoke test of the bench itself).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
WIDTH, HEIGHT, FPS = 720, 1280, 30
SOURCES = {"sun": "sun.mp4", "talking_man": "talking_man_480.mp4"}
SPEED_GOAL = 1.5          # generation / plain transcode
RSS_LIMIT_MB = 1536       # 10 minutes of audio on a 720p template
RSS_GROWTH_LIMIT = 1.2    # 10-minute peak / 1-minute peak


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, CPU seconds (user + sys, children included) and peak RSS in MiB."""

    wall_s: float
    cpu_s: float
    rss_mb: float


def run_child(args: list[str]) -> Run:
    """Run `python <args>` to completion; fail loudly with its stderr if it fails."""
    command = [sys.executable, *args]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"benchmark step failed ({child.returncode}): {' '.join(command)}\n"
                             f"{err.read().decode(errors='replace')}")
    # Linux reports ru_maxrss in KiB
    return Run(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, rss_mb=usage.ru_maxrss / 1024)


def make_template(source: Path, path: Path) -> float:
    """Scale `source` to cover 720x1280 (crop the excess, centred a little high to keep the face) at 30 fps.

    Source frames are written one per output frame, so a 25 fps source plays slightly faster: this is a
    benchmark input, not a video to watch. Returns the template's duration in seconds.
    """
    count = 0
    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        stream = dst.add_stream("libx264", rate=FPS, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in src.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            scale = max(WIDTH / w, HEIGHT / h)
            big = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
            x0 = (big.shape[1] - WIDTH) // 2
            y0 = int((big.shape[0] - HEIGHT) * 0.3)
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[y0:y0 + HEIGHT, x0:x0 + WIDTH]), format="rgb24")
            out.pts = count
            dst.mux(stream.encode(out))
            count += 1
        dst.mux(stream.encode(None))
    return count / FPS


def make_speech(source: Path, path: Path, seconds: float) -> Path:
    """Loop a WAV to `seconds` (16-bit PCM, same rate and channels)."""
    with wave.open(str(source), "rb") as handle:
        params = handle.getparams()
        data = handle.readframes(handle.getnframes())
    frame_bytes = params.sampwidth * params.nchannels
    wanted = int(seconds * params.framerate) * frame_bytes
    looped = (data * (wanted // len(data) + 1))[:wanted]
    with wave.open(str(path), "wb") as handle:
        handle.setparams(params)
        handle.writeframes(looped)
    return path


def x264_version() -> str:
    """The libx264 build PyAV links, read from the SEI string it writes into every stream."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "probe.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
            container.mux(stream.encode(None))
        data = path.read_bytes()
    start = data.find(b"x264 - core")
    return data[start:data.find(b" - ", start + 12)].decode(errors="replace") if start >= 0 else "unknown"


def generate_args(template: Path, audio: Path, output: Path, cache: Path) -> list[str]:
    return ["-m", "facecast.cli", "generate", "-t", str(template), "-a", str(audio), "-o", str(output),
            "--cache-dir", str(cache), "-q"]


def plain_args(template: Path, output: Path, frames: int) -> list[str]:
    code = ("import sys; from pathlib import Path; from facecast.engine.encode import transcode_plain; "
            "from facecast.engine.options import EncodeOptions; "
            "transcode_plain(Path(sys.argv[1]), Path(sys.argv[2]), EncodeOptions(), int(sys.argv[3]))")
    return ["-c", code, str(template), str(output), str(frames)]


def run_bench(template_name: str, quick: bool) -> tuple[str, bool]:
    """Returns the markdown section and whether every goal was met."""
    from facecast.engine.media import probe

    repeats = 1 if quick else 2
    with tempfile.TemporaryDirectory(prefix="facecast-bench-") as scratch_name:
        scratch = Path(scratch_name)
        cache = scratch / "cache"
        template = scratch / f"{template_name}_720x1280.mp4"
        template_s = make_template(MEDIA / SOURCES[template_name], template)
        speech_1 = make_speech(MEDIA / "eng.wav", scratch / "speech_60s.wav", 60.0)
        speech_10 = make_speech(MEDIA / "eng.wav", scratch / "speech_600s.wav", 600.0)
        print(f"template {template.name}: {template_s:.1f} s", file=sys.stderr)

        prepared = run_child(["-m", "facecast.cli", "prepare", str(template), "--cache-dir", str(cache), "-q"])
        print(f"prepare: {prepared.wall_s:.1f} s", file=sys.stderr)

        frames = 60 * FPS
        generated, plain = [], []
        for attempt in range(repeats):  # interleaved, so drifting load hits both alike
            plain.append(run_child(plain_args(template, scratch / "plain.mp4", frames)))
            generated.append(run_child(generate_args(template, speech_1, scratch / "gen_60.mp4", cache)))
            print(f"60 s: generate {generated[-1].wall_s:.1f} s, plain {plain[-1].wall_s:.1f} s", file=sys.stderr)
        out_info = probe(scratch / "gen_60.mp4")
        long_run = None
        if not quick:
            long_run = run_child(generate_args(template, speech_10, scratch / "gen_600.mp4", cache))
            print(f"600 s: generate {long_run.wall_s:.1f} s, {long_run.rss_mb:.0f} MiB", file=sys.stderr)

    gen = min(generated, key=lambda r: r.wall_s)
    base = min(plain, key=lambda r: r.wall_s)
    speed = gen.wall_s / base.wall_s
    cpu_speed = gen.cpu_s / base.cpu_s
    rss_1 = max(r.rss_mb for r in generated)
    lines = [
        "## Engine",
        "",
        f"Template: `{SOURCES[template_name]}` scaled and cropped to {WIDTH}x{HEIGHT} at {FPS} fps "
        f"({template_s:.1f} s, {round(template_s * FPS)} frames), prepared once before timing. "
        f"Speech: `eng.wav` looped to 60 s and 600 s. Output: {out_info.width}x{out_info.height} "
        f"@ {out_info.fps:g} fps, default EncodeOptions. Each figure is one `python -m facecast.cli` child process "
        f"(wall clock, and user+sys CPU from `os.wait4`); with repeats the fastest of {repeats} interleaved runs.",
        "",
        "| measure | value | goal |",
        "| --- | --- | --- |",
        f"| prepare (tracking) wall time | {prepared.wall_s:.1f} s = **{prepared.wall_s / template_s:.2f} s per template s** | |",
        f"| generate 60 s of audio | {gen.wall_s:.1f} s wall, {gen.cpu_s:.1f} s CPU | |",
        f"| plain decode + re-encode, {frames} frames | {base.wall_s:.1f} s wall, {base.cpu_s:.1f} s CPU | ~25 s wall |",
        f"| generation time / audio duration | **{gen.wall_s / 60:.2f}** | |",
        f"| generation time / plain transcode (wall) | **{speed:.2f}** | ≤ {SPEED_GOAL} {'✅' if speed <= SPEED_GOAL else '❌'} |",
        f"| generation CPU / plain transcode CPU | {cpu_speed:.2f} | (less noisy on a shared machine) |",
        f"| peak RSS, 1 min of audio | {rss_1:.0f} MiB | |",
    ]
    ok = speed <= SPEED_GOAL
    if long_run is not None:
        growth = long_run.rss_mb / rss_1
        rss_ok = long_run.rss_mb < RSS_LIMIT_MB
        growth_ok = growth <= RSS_GROWTH_LIMIT
        ok = ok and rss_ok and growth_ok
        lines += [
            f"| peak RSS, 10 min of audio | {long_run.rss_mb:.0f} MiB "
            f"(generation {long_run.wall_s:.0f} s = {long_run.wall_s / 600:.2f} x audio) | "
            f"< {RSS_LIMIT_MB} MiB {'✅' if rss_ok else '❌'} |",
            f"| RSS 10 min / RSS 1 min | **{growth:.2f}** | ≤ {RSS_GROWTH_LIMIT} {'✅' if growth_ok else '❌'} |",
        ]
    else:
        lines.append("| peak RSS, 10 min of audio | not measured (--quick) | |")
    for index, (g, p) in enumerate(zip(generated, plain)):
        lines.append(f"| run {index + 1}: generate / plain | {g.wall_s:.1f} s / {p.wall_s:.1f} s "
                     f"= {g.wall_s / p.wall_s:.2f} | |")
    return "\n".join(lines) + "\n", ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, no 10-minute run")
    parser.add_argument("--template", choices=sorted(SOURCES), default="sun")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_engine.md")
    args = parser.parse_args()
    section, ok = run_bench(args.template, args.quick)
    args.out.write_text(section)
    print(section)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
