"""Which of a template's mouths look like speech: the mouth bank must not lend faces to new speech.

Talking templates are often recorded with the person pulling faces between sentences: tongue out, lips
bitten or sucked in, teeth bared, lips pushed into a pout, the mouth twisted to one side, eyes screwed shut.
Any of these pasted onto a vowel reads as a grimace, not as speech. Each is recognised from the landmarks of
the aligned bank crop and from the colours between the inner lips (a tongue is as red as the lips, teeth are
light and unsaturated, the back of a speaking mouth is dark). Lip measures are compared with the same
person's rest pose, so thin or full lips are judged against themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..landmarks import (
    INNER_LIPS, LOWER_INNER_LIP, MOUTH_LEFT, MOUTH_RIGHT, OUTER_LIPS, LOWER_OUTER_LIP, UPPER_INNER_LIP, UPPER_OUTER_LIP, face_height, mouth_opening,
    mouth_width,
)

LOOKS_VERSION = 1           # what measure_looks measures: bump when it changes, cached measures are then retaken
# Mesh points of the eyelids (upper, lower) and eye corners, per eye.
_EYES = ((159, 145, 33, 133), (386, 374, 362, 263))
REST_OPENING = 0.03         # frames with a smaller inner-lip gap (face heights) show the rest pose
TONGUE_SHARE = 0.75         # share of lip-coloured pixels between open lips: the tongue fills the mouth
TEETH_AREA = 0.0095         # light unsaturated area between the inner lips: teeth bared, not speaking
HIDDEN_LOWER_LIP = 0.84     # lower lip thinner than this share of its rest height: bitten or under the tongue
HIDDEN_LIP_OPENING = 0.06   # ... while the mouth is open at least this much
STRETCHED_OPENING = 0.2     # ... but less than this: a shouted vowel stretches the lower lip thin by itself
SUCKED_IN_DARK = 0.08       # share of dark pixels between nearly closed lips: lips drawn in over the teeth
TWIST = 0.075               # mouth corners tilted or shifted sideways, in face heights
LOPSIDED = 0.75             # mouth picture vs its mirror image (mean difference / contrast): a one-sided bite
LOPSIDED_LOWER = 0.7        # the same for the lower half of the mouth, side lighting removed: a tongue tip at
                            # one corner, the lower lip bitten on one side, the mouth pushed sideways (at 0.9,
                            # talking_woman kept 22 such frames; talking_man's speech stays under 0.65)
BITTEN_TINT = 7.5           # a closed mouth whose lower lip is less saturated on one side (HSV S, 0-255) ...
BITTEN_LOPSIDED = 0.5       # ... and whose lower half is this lopsided: the lower lip drawn in on that side,
                            # which the landmarks still place as at rest
POUT_WIDTH = 0.8            # mouth narrower than this share of the person's median width
POUT_UPPER_LIP = 1.28       # upper lip taller than this share of its rest height (pushed forward)
EYES_SHUT = 0.45            # eye opening below this share of the person's median


@dataclass(frozen=True, slots=True)
class MouthLooks:
    """Per bank entry: measures of the mouth (lengths in face heights) and of the eyes."""

    opening: np.ndarray
    width: np.ndarray
    upper_lip: np.ndarray      # outer to inner edge on the midline
    lower_lip: np.ndarray
    twist: np.ndarray          # corner tilt plus sideways shift of the mouth centre from the nose
    eyes: np.ndarray           # eyelid gap / eye width, both eyes averaged
    lopsided: np.ndarray       # how much the mouth's picture differs from its mirror image
    lopsided_lower: np.ndarray  # the same for the half below the inner-lip midline
    lower_lip_tint: np.ndarray  # saturation difference between the lower lip's left and right halves
    red_share: np.ndarray      # share of lip-coloured pixels between the inner lips (tongue)
    light_area: np.ndarray     # light, unsaturated area between the inner lips (teeth)
    dark_share: np.ndarray     # share of dark pixels between the inner lips


@dataclass(frozen=True, slots=True)
class ExpressionVerdict:
    """Per bank entry: whether it looks like speech, and which non-speech reasons it triggered."""

    speech_like: np.ndarray            # bool [n]
    reasons: dict[str, np.ndarray]     # reason -> bool [n]

    def summary(self) -> str:
        counts = ", ".join(f"{name} {int(mask.sum())}" for name, mask in self.reasons.items() if mask.any())
        return f"{int(self.speech_like.sum())} of {len(self.speech_like)} speech-like ({counts or 'none rejected'})"


def measure_looks(crops: np.ndarray, points: np.ndarray, twist: np.ndarray) -> MouthLooks:
    """Measures of each aligned crop; `twist` comes from the bank's own asymmetry measure."""
    count = len(crops)
    red, light, dark, lopsided, lopsided_lower, tint = (np.zeros(count, np.float32) for _ in range(6))
    for index in range(count):
        red[index], light[index], dark[index] = _interior_colours(crops[index], points[index])
        lopsided[index] = _mirror_difference(crops[index], points[index])
        lopsided_lower[index] = _mirror_difference(crops[index], points[index], lower_half=True)
        tint[index] = _lower_lip_tint(crops[index], points[index])
    heights = np.array([max(face_height(p), 1.0) for p in points], np.float32)
    return MouthLooks(
        opening=np.array([mouth_opening(p) for p in points], np.float32),
        width=np.array([mouth_width(p) for p in points], np.float32),
        upper_lip=np.linalg.norm(points[:, UPPER_OUTER_LIP] - points[:, UPPER_INNER_LIP], axis=1) / heights,
        lower_lip=np.linalg.norm(points[:, LOWER_INNER_LIP] - points[:, LOWER_OUTER_LIP], axis=1) / heights,
        twist=np.asarray(twist, np.float32),
        eyes=np.mean([_eye_opening(points, *eye) for eye in _EYES], axis=0).astype(np.float32),
        lopsided=lopsided,
        lopsided_lower=lopsided_lower,
        lower_lip_tint=tint,
        red_share=red,
        light_area=light / heights**2,
        dark_share=dark,
    )


def judge(looks: MouthLooks) -> ExpressionVerdict:
    """Speech-like entries: none of the non-speech reasons apply."""
    rest = looks.opening < REST_OPENING
    if rest.sum() < 3:  # a template that never closes its mouth: its quietest tenth stands for the rest pose
        rest = looks.opening <= np.percentile(looks.opening, 10)
    rest_upper, rest_lower = float(np.median(looks.upper_lip[rest])), float(np.median(looks.lower_lip[rest]))
    width = float(np.median(looks.width))
    thin_lower_lip = looks.lower_lip < HIDDEN_LOWER_LIP * rest_lower
    reasons = {
        "tongue": (looks.red_share > TONGUE_SHARE) & (looks.opening > HIDDEN_LIP_OPENING),
        "lips hidden": (thin_lower_lip & (looks.opening > HIDDEN_LIP_OPENING) & (looks.opening < STRETCHED_OPENING))
        | ((looks.dark_share > SUCKED_IN_DARK) & (looks.opening < HIDDEN_LIP_OPENING))
        | ((looks.opening < REST_OPENING) & (looks.lower_lip_tint > BITTEN_TINT)
           & (looks.lopsided_lower > BITTEN_LOPSIDED)),
        "teeth bared": looks.light_area > TEETH_AREA,
        "twisted": (looks.twist > TWIST) | (looks.lopsided > LOPSIDED) | (looks.lopsided_lower > LOPSIDED_LOWER),
        "pout": (looks.width < POUT_WIDTH * width) | (looks.upper_lip > POUT_UPPER_LIP * rest_upper),
        "eyes shut": looks.eyes < EYES_SHUT * float(np.median(looks.eyes)),
    }
    rejected = np.logical_or.reduce(list(reasons.values()))
    return ExpressionVerdict(speech_like=~rejected, reasons=reasons)


def _interior_colours(crop: np.ndarray, points: np.ndarray) -> tuple[float, float, float]:
    """Between the inner lips: lip-coloured (tongue) share, light unsaturated (teeth) pixel count, dark share."""
    inner = points[INNER_LIPS]
    x0, y0 = np.maximum(np.floor(inner.min(0)).astype(int), 0)
    x1, y1 = np.ceil(inner.max(0)).astype(int) + 1
    patch = crop[y0:y1, x0:x1]
    if patch.size == 0:
        return 0.0, 0.0, 0.0
    mask = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner - [x0, y0]).astype(np.int32)], 1)
    hsv = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV)[mask > 0].astype(np.int32)
    if len(hsv) == 0:
        return 0.0, 0.0, 0.0
    saturation, value = hsv[:, 1], hsv[:, 2]
    return (float(((value >= 70) & (saturation >= 90)).mean()), float(((value > 150) & (saturation < 90)).sum()),
            float((value < 70).mean()))


def _mirror_difference(crop: np.ndarray, points: np.ndarray, lower_half: bool = False) -> float:
    """Mean difference between the mouth's picture and its mirror image, relative to its contrast.

    With `lower_half`, of the part below the inner-lip midline only, where a tongue tip at one corner, a
    one-sided bite or a sideways mouth stands out most, and with the light's left-right slope taken out first
    (light from one side alone makes a closed mouth look lopsided there).
    """
    lips = points[OUTER_LIPS]
    centre = float(points[MOUTH_LEFT][0] + points[MOUTH_RIGHT][0]) / 2
    half = int(max(centre - lips[:, 0].min(), lips[:, 0].max() - centre)) + 2
    x0, x1 = int(round(centre)) - half, int(round(centre)) + half
    y0, y1 = int(lips[:, 1].min()) - 2, int(lips[:, 1].max()) + 3
    if lower_half:
        y0 = int((points[UPPER_INNER_LIP][1] + points[LOWER_INNER_LIP][1]) / 2)
    if x0 < 0 or y0 < 0 or x1 > crop.shape[1] or y1 > crop.shape[0] or x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    grey = cv2.GaussianBlur(cv2.cvtColor(crop[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.5)
    if lower_half:
        across = np.arange(grey.shape[1], dtype=np.float32)
        grey -= np.polyval(np.polyfit(across, grey.mean(axis=0), 1), across).astype(np.float32)[None, :]
    return float(np.abs(grey - grey[:, ::-1]).mean() / (grey.std() + 1e-3))


def _lower_lip_tint(crop: np.ndarray, points: np.ndarray) -> float:
    """How much more saturated one half of the lower lip is than the other (HSV S): a lip drawn in over the
    teeth on one side shows less of its red there, though its landmarks keep their rest positions."""
    polygon = points[[OUTER_LIPS[0], *OUTER_LIPS[:9:-1], *INNER_LIPS[10:], INNER_LIPS[0]]]
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    centre = int(round(float(points[MOUTH_LEFT][0] + points[MOUTH_RIGHT][0]) / 2))
    saturation = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)[..., 1]
    left, right = mask[:, :centre] > 0, mask[:, centre:] > 0
    if left.sum() < 5 or right.sum() < 5:
        return 0.0
    return abs(float(saturation[:, :centre][left].mean()) - float(saturation[:, centre:][right].mean()))


def _eye_opening(points: np.ndarray, upper: int, lower: int, outer: int, inner: int) -> np.ndarray:
    gap = np.linalg.norm(points[:, upper] - points[:, lower], axis=1)
    return gap / np.maximum(np.linalg.norm(points[:, outer] - points[:, inner], axis=1), 1.0)
