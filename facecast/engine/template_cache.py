"""Prepared templates on disk: one directory per (file content, tracking options), written atomically.

A directory holds tracks.npz, facts.json and thumbnail.jpg. It is built in a staging directory and renamed
into place, so a reader sees all of it or nothing, and two workers preparing the same file at once are safe.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .options import TrackingOptions
from .results import PreparedTemplate, TemplateFacts
from .files import default_cache_dir, write_json_atomic
from .tracking import TRACKS_VERSION, Tracks

THUMBNAIL_MAX_SIDE_PX = 360


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the same template under another name or path shares its cache."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(file_hash: str, options: TrackingOptions) -> str:
    """The cache directory's name: the content and every option that changes the tracks."""
    settings = f"v{TRACKS_VERSION}:{options.face}:{options.smoothing}:{options.min_face_height_px}"
    return hashlib.sha256(f"{file_hash}:{settings}".encode()).hexdigest()[:32]


class MiddleFrame:
    """Passes frames through unchanged and keeps the one at `index`, for the thumbnail."""

    def __init__(self, frames: Iterable[np.ndarray], index: int) -> None:
        self.frames, self.index = frames, index
        self.kept: np.ndarray | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        for index, frame in enumerate(self.frames):
            if index == self.index:
                self.kept = frame
            yield frame


class TemplateCache:
    """The directory of prepared templates, one subdirectory per cache key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def load(self, source: Path, key: str) -> PreparedTemplate | None:
        """The prepared template stored under `key`, or None when this host has not prepared it."""
        path = self.root / key
        try:
            data = json.loads((path / "facts.json").read_text())
        except FileNotFoundError:
            return None
        return PreparedTemplate(source=Path(source), content_hash=key, cache_path=path,
                                facts=TemplateFacts(**data["facts"]))

    def store(self, source: Path, key: str, tracks: Tracks, facts: TemplateFacts,
              thumbnail: np.ndarray | None) -> PreparedTemplate:
        """Write the tracks, facts and thumbnail under `key`; the directory appears complete or not at all."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=self.root))
        try:
            tracks.save(staging / "tracks.npz")
            if thumbnail is not None:
                write_thumbnail(thumbnail, staging / "thumbnail.jpg")
            write_json_atomic(staging / "facts.json", {"source": Path(source).name, "facts": facts_to_dict(facts)})
            try:
                staging.rename(self.root / key)  # atomic: another worker may have finished first, which is fine
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return PreparedTemplate(source=Path(source), content_hash=key, cache_path=self.root / key, facts=facts)


def facts_to_dict(facts: TemplateFacts) -> dict:
    """The facts as plain JSON values (facts.json, the service's template row)."""
    return {name: getattr(facts, name) for name in TemplateFacts.__slots__}


def write_thumbnail(frame: np.ndarray, path: Path) -> None:
    """A JPEG of an RGB frame, its longer side at most THUMBNAIL_MAX_SIDE_PX."""
    height, width = frame.shape[:2]
    scale = min(1.0, THUMBNAIL_MAX_SIDE_PX / max(height, width))
    small = cv2.resize(frame, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
