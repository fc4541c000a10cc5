"""`facecast` as the user runs it: a subprocess of this interpreter, output captured as text."""

from __future__ import annotations

import subprocess
import sys


def run_facecast(*args: str, timeout: float = 300, module: str = "facecast.cli",
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m facecast.cli ARGS` (or another entry module) and return its exit status and output."""
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)
