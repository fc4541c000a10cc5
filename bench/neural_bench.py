"""Wav2Lip backend benchmark: the network's frames/s by batch size, and a whole job against a plain transcode.

Weights are random (a seeded generator saved as the original training script saves it, and its ONNX export):
speed does not depend on their values. Two parts:

- model: frames/s of the network alone (no decode, crop, paste-back or encode). On the CPU, batch 1/8/32 with
  PyTorch and with onnxruntime; on a CUDA GPU, batch 1/16/64/256 in fp32, fp16 and fp16 channels-last.
- job: `facecast generate --backend wav2lip` on a 720x1280 30 fps template against `transcode_plain` of the same
  frames with the same EncodeOptions, interleaved in one run (each its own child process, wall and CPU seconds).
  On the CPU the ONNX export runs the job (the faster runtime here, see docs/backends.md) on JOB_S of speech; on
  a GPU the .pth runs in fp16 on 60 s.

    python bench/neural_bench.py [--out bench/results_neural.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_bench import FPS, MEDIA, ROOT, Run, make_speech, make_template, plain_args, run_child  # noqa: E402

CPU_BATCHES = (1, 8, 32)
GPU_BATCHES = (1, 16, 64, 256)
JOB_S = {"cpu": 10.0, "cuda": 60.0}  # speech per job: the CPU runs the model at a few frames/s
TEMPLATE = "talking_man_480.mp4"
JOB_GOAL = 0.9          # on a GPU: job speed / plain transcode speed (issue goal); the CPU figure is reported


def save_random_weights(folder: Path) -> tuple[Path, Path]:
    """A seeded Wav2Lip as a .pth (state_dict under module.) and the ONNX export made by `facecast export-onnx`."""
    import torch

    from facecast.engine.neural.export import export_onnx
    from facecast.engine.neural.wav2lip_model import Wav2Lip

    torch.manual_seed(0)
    model = Wav2Lip().eval()
    pth = folder / "wav2lip_random.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, pth)
    return pth, export_onnx(pth, folder / "wav2lip_random.onnx")


def frames_per_second(predict: Callable[[np.ndarray, np.ndarray], object], batch: int, budget_s: float) -> float:
    """Calls `predict` on one batch (after a warm-up call) until `budget_s` passes; frames per second."""
    rng = np.random.default_rng(0)
    mel = rng.uniform(-4, 4, (batch, 1, 80, 16)).astype(np.float32)
    faces = rng.uniform(0, 1, (batch, 6, 96, 96)).astype(np.float32)
    predict(mel, faces)
    calls, started = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - started < budget_s:
        predict(mel, faces)
        calls += 1
    return calls * batch / (time.perf_counter() - started)


def cpu_model_rows(pth: Path, onnx: Path) -> list[str]:
    from facecast.engine.neural.runner import load_runner

    rows = []
    for label, weights in (("PyTorch (.pth)", pth), ("onnxruntime (.onnx)", onnx)):
        runner = load_runner(weights)
        speeds = [frames_per_second(runner.predict, batch, budget_s=6.0) for batch in CPU_BATCHES]
        rows.append(f"| {label}, CPU | " + " | ".join(f"{fps:.1f}" for fps in speeds) + " |")
    header = "| runtime | " + " | ".join(f"batch {b}" for b in CPU_BATCHES) + " |"
    return [header, "|---" * (len(CPU_BATCHES) + 1) + "|", *rows]


def gpu_model_rows(pth: Path) -> list[str]:
    """fp32, fp16 and fp16 channels-last on the GPU with PyTorch, frames/s per batch size."""
    import torch

    from facecast.engine.neural.runner import load_torch_model

    rows = []
    for label, dtype, layout in (("fp32", torch.float32, torch.contiguous_format),
                                 ("fp16", torch.float16, torch.contiguous_format),
                                 ("fp16 channels-last", torch.float16, torch.channels_last)):
        model = load_torch_model(pth).to("cuda", dtype).to(memory_format=layout)

        def predict(mel: np.ndarray, faces: np.ndarray) -> object:
            with torch.inference_mode():
                out = model(torch.from_numpy(mel).to("cuda", dtype),
                            torch.from_numpy(faces).to("cuda", dtype).to(memory_format=layout))
                torch.cuda.synchronize()
            return out

        speeds = [frames_per_second(predict, batch, budget_s=3.0) for batch in GPU_BATCHES]
        rows.append(f"| PyTorch {label}, {torch.cuda.get_device_name()} | "
                    + " | ".join(f"{fps:,.0f}" for fps in speeds) + " |")
    header = "| runtime | " + " | ".join(f"batch {b}" for b in GPU_BATCHES) + " |"
    return [header, "|---" * (len(GPU_BATCHES) + 1) + "|", *rows]


def job_rows(weights: Path, device: str, scratch: Path) -> tuple[list[str], float]:
    """One wav2lip job and one plain transcode of the same frames, interleaved twice; the faster of each."""
    seconds = JOB_S[device]
    template, speech = scratch / "template_720p.mp4", scratch / "speech.wav"
    make_template(MEDIA / TEMPLATE, template)
    make_speech(MEDIA / "eng.wav", speech, seconds)
    cache = scratch / "cache"
    run_child(["-m", "facecast.cli", "prepare", str(template), "--cache-dir", str(cache), "-q"])
    job = ["-m", "facecast.cli", "generate", "-t", str(template), "-a", str(speech), "-o", str(scratch / "gen.mp4"),
           "--cache-dir", str(cache), "--backend", "wav2lip", "--weights", str(weights), "-q"]
    generated: list[Run] = []
    plain: list[Run] = []
    for _ in range(2):
        plain.append(run_child(plain_args(template, scratch / "plain.mp4", round(seconds * FPS))))
        generated.append(run_child(job))
    gen, base = min(generated, key=lambda r: r.wall_s), min(plain, key=lambda r: r.wall_s)
    speed = base.wall_s / gen.wall_s
    label = f"720x1280 {FPS} fps, {seconds:.0f} s, {weights.suffix[1:]} on {device}"
    goal = f"≥ {JOB_GOAL} {'✅' if speed >= JOB_GOAL else '❌'}" if device == "cuda" else "reported (goal is on a GPU)"
    return [
        f"| {label}: generate | {gen.wall_s:.1f} s wall, {gen.cpu_s:.1f} s CPU, {gen.rss_mb:.0f} MiB | |",
        f"| {label}: plain decode + re-encode | {base.wall_s:.1f} s wall, {base.cpu_s:.1f} s CPU | |",
        f"| {label}: output frames/s | {seconds * FPS / gen.wall_s:.1f} | |",
        f"| {label}: job speed / plain transcode speed | **{speed:.2f}** | {goal} |",
    ], speed


def run_bench() -> tuple[str, bool]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory(prefix="facecast-neural-bench-") as scratch_name:
        scratch = Path(scratch_name)
        pth, onnx = save_random_weights(scratch)
        model = gpu_model_rows(pth) if device == "cuda" else cpu_model_rows(pth, onnx)
        job, speed = job_rows(pth if device == "cuda" else onnx, device, scratch)
    ok = speed >= JOB_GOAL if device == "cuda" else True
    lines = [
        "## Wav2Lip backend",
        "",
        f"Random weights (a seeded generator saved as a .pth and exported with `facecast export-onnx`), torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads. Model: frames/s of the network alone. Job: "
        f"`{TEMPLATE}` scaled to a 720x1280 {FPS} fps template, `eng.wav` looped, default options; the faster "
        "of 2 runs interleaved with the plain transcode.",
        "",
        *model,
        "",
        "| measure | value | goal |",
        "| --- | --- | --- |",
        *job,
    ]
    if device == "cpu":
        lines += ["", "No CUDA device on this machine: the GPU rows (batch 1/16/64/256, fp16, channels-last) and the "
                      "GPU job goal are measured when this script runs where `torch.cuda.is_available()`."]
    return "\n".join(lines) + "\n", ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_neural.md")
    args = parser.parse_args()
    section, ok = run_bench()
    args.out.write_text(section)
    print(section)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
