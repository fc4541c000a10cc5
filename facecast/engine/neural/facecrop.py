"""The face crop Wav2Lip expects, taken from the engine's tracked landmarks, and the paste-back of its output.

Wav2Lip was trained on S3FD face boxes (brows to chin, cheek to cheek) squeezed to 96 x 96, with 10 px more
below the chin at inference. The box here is built from the same landmarks the classical renderers use, so no
second face detector runs. The original pasted its whole 96 px box back; here only a feathered lower face
is blended, colour-matched to the frame and lightly sharpened, and the box is smoothed over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..blend import blend_region, feathered_mask, lower_face_polygon, match_colour
from ..landmarks import CHIN, JAW, face_height
from ..render.warp import Region

IMAGE_SIZE = 96
MID_FOREHEAD = 151               # mesh point between the brows and the hairline: where S3FD boxes start
CHEEKS = [234, 454]              # the face's sides at eye level
CHIN_PAD = 0.05                  # of the face height below the chin (the original's 10 px on a ~200 px face)
BOX_FOLLOW = 0.5                 # how far the smoothed box moves towards each new one (1 = no smoothing)
BOX_JUMP = 0.3                   # a centre moving more than this share of the box width is a cut: no smoothing
FEATHER = 0.06                   # mask feather, as a share of the face height
SHARPEN = 0.6                    # unsharp-mask amount: the 96 px output is upscaled and looks soft
CHIN_DROP = 0.08                 # the mask reaches this share of the face height past the jaw line


def crop_box(points: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] (frame pixels, float) of the face box Wav2Lip expects, from 478 mesh landmarks."""
    sides = points[[*CHEEKS, *JAW], 0]
    top = points[MID_FOREHEAD, 1]
    bottom = points[CHIN, 1] + CHIN_PAD * face_height(points)
    return np.array([sides.min(), top, sides.max(), bottom], np.float64)


@dataclass(slots=True)
class BoxSmoother:
    """Exponential smoothing of successive crop boxes; restarts after a gap in frames or a cut."""

    box: np.ndarray | None = None
    last_index: int = -2

    def update(self, box: np.ndarray, index: int) -> np.ndarray:
        if self.box is None or index != self.last_index + 1 or self._jumped(box):
            self.box = box
        else:
            self.box = self.box + BOX_FOLLOW * (box - self.box)
        self.last_index = index
        return self.box

    def _jumped(self, box: np.ndarray) -> bool:
        assert self.box is not None
        centre_shift = np.hypot(*((box[:2] + box[2:]) - (self.box[:2] + self.box[2:])) / 2.0)
        return bool(centre_shift > BOX_JUMP * (self.box[2] - self.box[0]))


def frame_region(box: np.ndarray, width: int, height: int) -> Region:
    """The box rounded to whole pixels and clipped to the frame, as the original clips its padded box."""
    return Region(max(0, int(round(box[0]))), max(0, int(round(box[1]))), min(width, int(round(box[2]))),
                  min(height, int(round(box[3]))))


def model_faces(frames: list[np.ndarray], regions: list[Region]) -> np.ndarray:
    """The network's face input: float32 B x 6 x 96 x 96, lower half blanked then the full face, BGR in [0, 1]."""
    faces = np.stack([cv2.resize(region.slice(frame), (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
                      for frame, region in zip(frames, regions)])[..., ::-1]  # RGB -> BGR, as trained with cv2
    masked = faces.copy()
    masked[:, IMAGE_SIZE // 2:] = 0
    both = np.concatenate([masked, faces], axis=3).astype(np.float32) * (1.0 / 255.0)
    return np.ascontiguousarray(both.transpose(0, 3, 1, 2))


def paste_face(frame: np.ndarray, predicted: np.ndarray, region: Region, points: np.ndarray) -> np.ndarray:
    """`frame` with the predicted face (3 x 96 x 96 BGR in [0, 1]) blended in over the lower face only."""
    width, height = region.x1 - region.x0, region.y1 - region.y0
    face = np.clip(predicted.transpose(1, 2, 0)[..., ::-1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    face = _sharpened(cv2.resize(face, (width, height), interpolation=cv2.INTER_CUBIC), width / IMAGE_SIZE)
    size = face_height(points)
    mask = feathered_mask(lower_face_polygon(points, chin_drop=CHIN_DROP * size), region, FEATHER * size)
    mask *= _edge_fade(height, width, max(2.0, FEATHER * size))
    out = frame.copy()
    blend_region(out, match_colour(face, region.slice(frame), mask), mask, region)
    return out


def _sharpened(image: np.ndarray, upscale: float) -> np.ndarray:
    """Unsharp mask at the scale of the upsampling blur."""
    blurred = cv2.GaussianBlur(image, (0, 0), max(0.8, 0.5 * upscale))
    return cv2.addWeighted(image, 1.0 + SHARPEN, blurred, -SHARPEN, 0)


def _edge_fade(height: int, width: int, fade_px: float) -> np.ndarray:
    """1 inside, falling to 0 at the box's edges: no seam where the mask would meet the box border."""
    ys = np.minimum(np.arange(height), np.arange(height)[::-1]).astype(np.float32)
    xs = np.minimum(np.arange(width), np.arange(width)[::-1]).astype(np.float32)
    return np.clip(np.minimum(ys[:, None], xs[None, :]) / fade_px, 0.0, 1.0)
