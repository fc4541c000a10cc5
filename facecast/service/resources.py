"""Readings of the machine the service runs on: free disk of the data directory and GPU memory and load.

Used by /metrics, /readyz, the disk guard on new work and the alerts. GPU readings come from NVML
(`pip install 'facecast[gpu-metrics]'`, the nvidia-ml-py package), imported only when a GPU is present; without
either there are simply no GPU readings.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .problems import LowDiskSpaceError
from .settings import Settings

log = logging.getLogger("facecast.service")
MB = 1024 * 1024
DISK_CACHE_S = 1.0  # statvfs is cheap, but the guard runs on every create: read it at most once a second
NVIDIA_DEVICE = Path("/dev/nvidiactl")


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU as NVML sees it now."""

    index: int
    name: str
    memory_used_bytes: int
    memory_total_bytes: int
    utilization_percent: float

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory_used_bytes / self.memory_total_bytes if self.memory_total_bytes else 0.0


_disk_cache: dict[Path, tuple[float, int]] = {}


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (for unprivileged users), cached for a second."""
    now = time.monotonic()
    cached = _disk_cache.get(path)
    if cached is not None and now - cached[0] < DISK_CACHE_S:
        return cached[1]
    free = shutil.disk_usage(path).free
    _disk_cache[path] = (now, free)
    return free


def disk_low(settings: Settings) -> str | None:
    """Why the data directory is too full for new work ("120 MB free, below min_free_disk_mb=500"), or None."""
    free_mb = free_disk_bytes(settings.data_dir) // MB
    if free_mb >= settings.min_free_disk_mb:
        return None
    return f"{free_mb} MB free, below min_free_disk_mb={settings.min_free_disk_mb}"


def disk_space_or_raise(settings: Settings) -> None:
    """Refuse new work (507 low_disk_space) while the data directory is below its free-space threshold."""
    reason = disk_low(settings)
    if reason is not None:
        raise LowDiskSpaceError(f"the server is low on disk space ({reason}); retry once space is freed "
                                "or old results expire")


def gpu_readings() -> list[GpuReading]:
    """Every GPU's memory and utilisation; empty without a GPU, without nvidia-ml-py, or when NVML fails."""
    nvml = _nvml()
    if nvml is None:
        return []
    try:
        readings = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            utilization = nvml.nvmlDeviceGetUtilizationRates(handle)
            name = nvml.nvmlDeviceGetName(handle)
            readings.append(GpuReading(index, name.decode() if isinstance(name, bytes) else str(name),
                                       int(memory.used), int(memory.total), float(utilization.gpu)))
        return readings
    except Exception as exc:  # a driver hiccup must not break /metrics or the alerts
        log.warning("GPU readings failed (%s: %s)", type(exc).__name__, exc)
        return []


@functools.lru_cache(maxsize=1)
def _nvml() -> Any | None:
    """The initialised pynvml module, or None when there is no GPU or no nvidia-ml-py (checked once)."""
    if not NVIDIA_DEVICE.exists():
        return None
    try:
        import pynvml
    except ImportError:
        log.info("a GPU is present but nvidia-ml-py is not installed: no GPU metrics ('facecast[gpu-metrics]')")
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        log.warning("NVML did not start (%s: %s): no GPU metrics", type(exc).__name__, exc)
        return None
    return pynvml
