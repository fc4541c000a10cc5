"""`make bench`: run every benchmark present and write bench/RESULTS.md with the machine it ran on.

Sections: the engine (bench/engine_bench.py, always), then the service, voice and Wav2Lip benches when their
scripts exist (bench/service_bench.py, voice_bench.py, neural_bench.py -> bench/results_<name>.md).
Extra arguments go to the engine bench, e.g. `python bench/run.py --quick`.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECTIONS = [  # (title, script, the markdown it writes)
    ("Engine", "engine_bench.py", "results_engine.md"),
    ("Service", "service_bench.py", "results_service.md"),
    ("Voice", "voice_bench.py", "results_voice.md"),
    ("Wav2Lip backend", "neural_bench.py", "results_neural.md"),
]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_facts() -> list[str]:
    import av

    sys.path.insert(0, str(BENCH))
    from engine_bench import x264_version

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_model()}, {cores} cores usable ({os.cpu_count()} online)",
        f"- RAM: {memory_gib()}",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_version()} ({sys.executable})",
        f"- PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}, "
        f"{x264_version()}",
        f"- load average when the bench started (1/5/15 min): {load}",
        f"- git: {git_describe()}",
    ]


def git_describe() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    started = time.perf_counter()
    facts = machine_facts()
    extra = sys.argv[1:]
    parts: list[str] = []
    failed: list[str] = []
    for title, script, result in SECTIONS:
        path = BENCH / script
        if not path.exists():
            parts.append(f"## {title}\n\nSkipped: `bench/{script}` is not in this checkout.\n")
            continue
        (BENCH / result).unlink(missing_ok=True)
        command = [sys.executable, str(path), *(extra if script == "engine_bench.py" else [])]
        print(f"== {title}: {shlex.join(command)}", file=sys.stderr, flush=True)
        code = subprocess.run(command, cwd=ROOT).returncode
        if (BENCH / result).exists():
            parts.append((BENCH / result).read_text().rstrip() + "\n")
            if code != 0:
                parts.append(f"`bench/{script}` exited with status {code} (a goal was missed or it failed).\n")
        else:
            parts.append(f"## {title}\n\n`bench/{script}` exited with status {code} and wrote no "
                         f"`bench/{result}`.\n")
        if code != 0:
            failed.append(script)
    command_line = "make bench  # = " + shlex.join([os.path.relpath(sys.executable, ROOT), "bench/run.py", *extra])
    header = ["# facecast benchmark results", "", "Written by `bench/run.py`; regenerate with:", "", "```",
              command_line, "```", "", *facts, f"- bench wall time: {time.perf_counter() - started:.0f} s", ""]
    (BENCH / "RESULTS.md").write_text("\n".join(header) + "\n" + "\n".join(parts))
    print(f"wrote {BENCH / 'RESULTS.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
