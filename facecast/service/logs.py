"""logs/facecast.log: one line per job state change (and service warnings), appended by every process."""

from __future__ import annotations

import logging

from .settings import Settings

FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Send facecast.* loggers to data_dir/logs/facecast.log (readable with tail -f) and to stderr."""
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("facecast")
    if any(getattr(h, "_facecast", False) for h in root.handlers):
        return
    for handler in (logging.FileHandler(logs / "facecast.log"), logging.StreamHandler()):
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._facecast = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
