"""Writing files so that a reader sees the old file or the complete new one, never a half-written one.

Every file facecast writes goes through atomic_output(): the content goes to a hidden temporary file in the
same folder (so the final rename stays on one filesystem and is atomic) and is renamed over the target only
when the block succeeds; on any failure the temporary file is removed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

Arrays = TypeVar("Arrays")


def default_cache_dir() -> Path:
    """Where template tracks are cached unless a caller says otherwise ($FACECAST_CACHE_DIR); models derived
    from the ones installed are kept in its hidden .models folder."""
    env = os.environ.get("FACECAST_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "facecast" / "templates"


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


def cached_arrays(path: Path, kind: type[Arrays], build: Callable[[], Arrays], mapped: tuple[str, ...] = ()) -> Arrays:
    """`kind` (a dataclass of numpy arrays) read from the .npz at `path`, or built and saved there first.

    The fields named in `mapped` are kept in .npy files beside it and memory-mapped when read: a large array
    that a render reads a slice of per frame costs nothing to open. They are written before the .npz, whose
    presence therefore means the set is complete.
    """
    import numpy as np

    path = Path(path)
    names = [field.name for field in dataclasses.fields(kind)]  # type: ignore[arg-type]
    beside = {name: path.with_name(f"{path.stem}.{name}.npy") for name in mapped}
    if path.exists() and all(file.exists() for file in beside.values()):
        with np.load(path) as data:
            values = {name: data[name] for name in names if name not in beside}
        values.update({name: np.load(file, mmap_mode="r") for name, file in beside.items()})
        return kind(**values)
    built = build()
    for name, file in beside.items():
        with atomic_output(file) as temporary:  # keeps the .npy suffix, so np.save adds none
            np.save(temporary, getattr(built, name))
    with atomic_output(path) as temporary:
        np.savez(temporary, **{name: getattr(built, name) for name in names if name not in beside})
    return built
