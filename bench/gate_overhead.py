"""The lip-sync gate's cost measured directly: one generation with the gate and the same generation without it,
alternating in one warm process (models loaded, template prepared), so the difference is the gate and nothing else.

Short speech is where the gate costs most: it tracks a fixed minimum of frames however short the video, while
the render shrinks with it. Prints one JSON object: what the gate added to each pair's wall and CPU seconds
(gated minus plain), the plain generations' seconds, and the `cost_ratio` each gated video reported (the gate's
own CPU over the render's wall time). A shared machine's load drifts; pairs alternate which goes first.

    python bench/gate_overhead.py TEMPLATE SPEECH MODE CACHE_DIR PAIRS
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from facecast.engine.landmarks import shared_landmarker
from facecast.engine.options import GenerateOptions, RenderOptions
from facecast.engine.pipeline import generate, prepare_template
from facecast.engine.quality import RenderedSample, measure_quality


def timed_pair(template: Path, speech: Path, options: GenerateOptions, cache: Path, output: Path,
               gated_first: bool) -> tuple[tuple[float, float], tuple[float, float], dict]:
    """(wall, CPU) with the gate, (wall, CPU) without it, and the gated video's report, in the order given."""
    timings: dict[bool, tuple[float, float]] = {}
    report: dict = {}
    for gated in (gated_first, not gated_first):
        wall, cpu = time.monotonic(), time.process_time()
        sample = RenderedSample() if gated else None
        generate(template, speech, output, options, cache_dir=cache, sample=sample)
        if sample is not None:
            report = measure_quality(output, options.quality, time.monotonic() - wall, sample=sample).as_dict()
        timings[gated] = (time.monotonic() - wall, time.process_time() - cpu)
    return timings[True], timings[False], report


def main() -> int:
    template, speech, mode, cache, pairs = sys.argv[1:6]
    options = GenerateOptions(render=RenderOptions(mode=mode))  # type: ignore[arg-type]
    prepare_template(Path(template), cache_dir=Path(cache))
    shared_landmarker().ready_to_follow()  # loaded once per process, as a worker does
    on, off, reports = [], [], []
    with tempfile.TemporaryDirectory(prefix="facecast-gate-") as scratch:
        output = Path(scratch) / "gen.mp4"
        timed_pair(Path(template), Path(speech), options, Path(cache), output, True)  # warm-up, not counted
        for index in range(int(pairs)):
            gated, plain, report = timed_pair(Path(template), Path(speech), options, Path(cache), output,
                                              gated_first=index % 2 == 0)
            on.append(gated)
            off.append(plain)
            reports.append(report)
    median = statistics.median
    print(json.dumps({
        "extra_wall": median(g[0] - p[0] for g, p in zip(on, off)), "wall_off": median(p[0] for p in off),
        "extra_cpu": median(g[1] - p[1] for g, p in zip(on, off)), "cpu_off": median(p[1] for p in off),
        "cost_ratios": [report["cost_ratio"] for report in reports],
        "frames_measured": reports[0]["frames_measured"], "passed": all(r["passed"] for r in reports),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
