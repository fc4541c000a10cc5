"""Face tracks of a template: landmarks per frame, the chosen face followed over time, smoothed.

Tracking runs once per template; the result is cached on disk keyed by the template's content hash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import FaceTooSmallError, NoFaceError
from .files import write_json_atomic
from .landmarks import (LANDMARK_COUNT, FaceBox, Landmarker, box_from_points, face_height, mouth_opening,
                        shared_landmarker)
from .options import TrackingOptions
from .runs import true_runs
from .smoothing import gaussian_smooth
from .progress import NEVER_CANCELED, CancelToken, Progress, no_progress

logger = logging.getLogger(__name__)

TRACKS_VERSION = 1
TALKING_MOUTH_RANGE = 0.045   # p90-p10 opening above which a template's own mouths form a usable bank


@dataclass(slots=True)
class Tracks:
    """Per template frame: landmarks (frame pixels) where a face was tracked, NaN elsewhere."""

    points: np.ndarray        # float32 [frames, 478, 2]
    present: np.ndarray       # bool [frames]

    @property
    def frame_count(self) -> int:
        return len(self.present)

    @property
    def coverage(self) -> float:
        return float(self.present.mean()) if len(self.present) else 0.0

    def openings(self) -> np.ndarray:
        """Inner-lip opening / face height per frame (NaN without a face)."""
        return np.array([mouth_opening(p) if ok else np.nan for p, ok in zip(self.points, self.present)])

    def mouth_range(self) -> float:
        openings = self.openings()[self.present]
        if len(openings) < 2:
            return 0.0
        return float(np.percentile(openings, 90) - np.percentile(openings, 10))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, points=self.points.astype(np.float32), present=self.present,
                            version=np.int32(TRACKS_VERSION))

    @classmethod
    def load(cls, path: Path) -> Tracks:
        with np.load(path) as data:
            return cls(points=data["points"], present=data["present"])


MeshKind = Literal["fresh", "following", "direct"]


class _FaceFollower:
    """Keeps one face across frames: re-uses the previous landmarks as the crop, re-detects when lost."""

    def __init__(self, landmarker: Landmarker, options: TrackingOptions, mesh: MeshKind = "fresh",
                 start_box: FaceBox | None = None) -> None:
        self.landmarker = landmarker
        self.options = options
        self.direct = landmarker.direct_mesh() if mesh == "direct" else None
        self.following = mesh != "fresh"
        self.last_box = start_box
        self.last_points: np.ndarray | None = None
        self.largest_face_px = 0.0

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        points = None
        if self.last_box is not None:
            points = self._followed(frame, self.last_box)
        if points is None:
            box = self._choose(self.landmarker.detect(frame))
            if box is not None:
                # The detector's box is tighter than the mesh's face extent; crop wider.
                points = self.landmarker.landmarks(frame, box, crop_scale=2.4)
        if points is None:
            self.last_box, self.last_points = None, None
            return None
        self.last_box, self.last_points = box_from_points(points), points
        self.largest_face_px = max(self.largest_face_px, face_height(points))
        return points

    def _followed(self, frame: np.ndarray, box: FaceBox) -> np.ndarray | None:
        if self.direct is not None:
            return self.direct.follow(frame, (box.cx, box.cy), box.size, self.last_points)
        return self.landmarker.landmarks(frame, box, following=self.following)

    def _choose(self, boxes: list[FaceBox]) -> FaceBox | None:
        if not boxes:
            return None
        if self.last_box is not None:  # re-acquire the face we were following
            last = self.last_box
            return min(boxes, key=lambda b: np.hypot(b.cx - last.cx, b.cy - last.cy))
        if self.options.face == "largest":
            return boxes[0]
        index = int(self.options.face)
        ordered = sorted(boxes, key=lambda b: b.cx)
        return ordered[index] if index < len(ordered) else None


def track_frames(
    frames: Iterable[np.ndarray],
    total: int,
    options: TrackingOptions = TrackingOptions(),
    *,
    name: str = "template",
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
    mesh: MeshKind = "fresh",
    start_box: FaceBox | None = None,
) -> Tracks:
    """Landmarks for every frame, smoothed over time. Raises NoFaceError / FaceTooSmallError.

    `mesh`: how a face is found where it was in the frame before. "fresh": the mesh detects it again in
    every crop, for a template's tracks, which every render of it is drawn from; "following": the mesh starts
    from its own last landmarks (a quarter cheaper; see Landmarker.landmarks), for measuring a video's mouth;
    "direct": the same model's trunk and lips run directly on a crop aligned with the last landmarks
    (mesh_model; a third of "following"; irises NaN), for the quality gate's sample, or "following" where
    LiteRT is not installed.
    `start_box`: where the face is known to be in the first frame, as if followed there; the face detector
    runs only where the mesh finds no face in it.
    """
    landmarker = shared_landmarker()
    follower = _FaceFollower(landmarker, options, mesh, start_box)
    points: list[np.ndarray] = []
    present: list[bool] = []
    for index, frame in enumerate(frames):
        cancel.raise_if_canceled()
        with landmarker.held():  # per frame: a caller that waits for its frames (the gate) holds nobody up
            found = follower.step(frame)
        present.append(found is not None)
        points.append(_all_points(found))
        if index % 10 == 0:
            progress("tracking", index + 1, total)
    progress("tracking", len(points), len(points))
    if not any(present):
        raise NoFaceError(f"no face in any of the {len(points)} frames of {name}; use a template that shows one face")
    if follower.largest_face_px < options.min_face_height_px:
        raise FaceTooSmallError(
            f"the face in {name} is only {follower.largest_face_px:.0f} px tall (minimum "
            f"{options.min_face_height_px} px); use a closer shot or a higher-resolution template"
        )
    tracks = Tracks(points=np.stack(points).astype(np.float32), present=np.array(present))
    smooth_tracks(tracks, options.smoothing)
    return tracks


def _all_points(found: np.ndarray | None) -> np.ndarray:
    """A frame's row of Tracks.points: NaN where no face was found, and for points the mesh did not give."""
    row = np.full((LANDMARK_COUNT, 2), np.nan, np.float32)
    if found is not None:
        row[:len(found)] = found
    return row


def smooth_tracks(tracks: Tracks, strength: float) -> None:
    """Zero-phase temporal smoothing inside each run of tracked frames (no lag, no jitter)."""
    sigma = 2.5 * strength
    if sigma <= 0:
        return
    for start, stop in true_runs(tracks.present):
        if stop - start > 2:
            tracks.points[start:stop] = gaussian_smooth(tracks.points[start:stop], sigma, axis=0)


def template_summary(tracks: Tracks) -> dict[str, float | bool]:
    mouth_range = tracks.mouth_range()
    return {
        "face_coverage": round(tracks.coverage, 4),
        "mouth_range": round(mouth_range, 4),
        "talking": bool(mouth_range >= TALKING_MOUTH_RANGE),
    }


