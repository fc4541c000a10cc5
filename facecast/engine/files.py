"""Writing files so that a reader sees the old file or the complete new one, never a half-written one.

Every file facecast writes goes through atomic_output(): the content goes to a hidden temporary file in the
same folder (so the final rename stays on one filesystem and is atomic) and is renamed over the target only
when the block succeeds; on any failure the temporary file is removed.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a hidden temp path beside `path`; it replaces `path` only if the block succeeds.

    The temp name keeps the target's suffix, for writers that pick a format from it (PyAV, np.savez). On
    any exception (CanceledError, KeyboardInterrupt included) the temp file is deleted and the exception
    re-raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would stick to the published file; the writer creates it with the umask.
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> Path:
    """JSON as UTF-8, non-ASCII characters kept as they are (Chinese subtitles and voice names stay readable)."""
    return write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=indent))
