"""The person's own mouths: a bank of lower-face crops from a talking template, picked per output frame.

Every template frame with a face gives one crop, aligned to a canonical face by a similarity transform on
landmarks that do not move with the mouth, and indexed by its mouth state (opening, width) and head pose.
Per output frame a short list of candidates close to the planned state is scored, and dynamic programming
picks a path through them that prefers running on consecutive template frames (natural motion, no flicker).
The chosen crop is warped into the current frame's face geometry, colour matched and feather-blended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..blend import ColourStats, blend_warped, colour_table, feathered_mask, lower_face_polygon, masked_colour
from ..files import cached_arrays
from ..landmarks import (
    CHIN,
    FOREHEAD,
    INNER_LIPS,
    LANDMARK_COUNT,
    LEFT_EYE_OUTER,
    LOWER_INNER_LIP,
    LOWER_OUTER_LIP,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_TIP,
    OUTER_LIPS,
    RIGHT_EYE_OUTER,
    STABLE,
    UPPER_INNER_LIP,
    UPPER_OUTER_LIP,
    face_height,
    mouth_opening,
    mouth_width,
)
from ..media import iter_frames, pingpong_indices, probe
from ..motion import TYPICAL_OPENING, MouthPlan
from ..results import PreparedTemplate
from ..tracking import Tracks
from .expression import LOOKS_VERSION, MouthLooks, judge, measure_looks
from .parametric import CHIN_LINE, CHIN_SIDES, CLOSED_GAP, ParametricRenderer, draw_mouth
from .warp import Region, warp_points

logger = logging.getLogger(__name__)

CANON_FACE = 200.0        # canonical face height (forehead to chin) in pixels
MAX_BANK = 1500           # crops kept in the bank (evenly sampled from longer templates)
CANDIDATES = 12
OPENING_WEIGHT = 3.0      # cost per face height of opening error, against 0.5 for width and 1.0 for pose
SWITCH_COST = 0.024       # cost (in face heights of opening error) of jumping to a non-consecutive template frame
MIN_SPEECH_LIKE = 40      # fewer speech-like crops than this: the parametric mouth looks better than repeats
_NOT_SPEECH_COST = 1e3    # crops that do not look like speech are never chosen while CANDIDATES others exist
# A closure (speech.closure_events) marks 50 ms around a dip of 12 dB or more: a frame it covers nearly whole,
# at a dip deep enough for a stop, shows shut lips. Frames at its edges, or at shallower dips, are already closed
# part way by the plan; shutting them too drew closures longer than the sound's (talking_woman + sun.wav, with
# target_openings no longer scaling by the press twice: sync r 0.689 at press > 0.5, 0.717 at > 0.9).
PRESS_SHUT = 0.9
BANK_VERSION = 3          # the cache's layout and content: bump when build_bank changes
_BOUNDARY = [98, 327, 2, 205, 425, 50, 280, 187, 411, 123, 352, 132, 361, 58, 288, 93, 323]
_STATS_STEP = 2           # the frame's skin colour is measured on every 2nd pixel of the crop grid
_EDGE = 2                 # crop border (pixels) never blended: nothing was warped in from beyond it
_MOUTH_AND_CHIN = sorted(set(OUTER_LIPS + INNER_LIPS + [i for i, _ in CHIN_LINE + CHIN_SIDES]))


@dataclass(slots=True)
class MouthBank:
    crops: np.ndarray         # uint8 [n, h, w, 3] in canonical space
    points: np.ndarray        # float32 [n, 478, 2] landmarks in canonical crop coordinates
    openings: np.ndarray      # [n] inner-lip gap / face height
    widths: np.ndarray        # [n] mouth width / face height
    poses: np.ndarray         # [n, 2] nose offset from the face axis, in face heights (yaw, pitch proxy)
    sharpness: np.ndarray     # [n] detail around the mouth, 1 = the template's median (motion blur is lower)
    reference: np.ndarray     # [478, 2] canonical layout that every frame is aligned to (crop coordinates)


def canonical_reference(points: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The template's face moved upright to the canonical scale; returns it in crop coordinates and crop size."""
    fh = face_height(points)
    axis = (points[CHIN] - points[FOREHEAD]) / fh
    angle = np.arctan2(axis[0], axis[1])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scaled = (points - points[NOSE_TIP]) @ rotation.T * (CANON_FACE / fh)
    lower = scaled[scaled[:, 1] > -0.1 * CANON_FACE]
    x0, x1 = lower[:, 0].min() - 0.12 * CANON_FACE, lower[:, 0].max() + 0.12 * CANON_FACE
    y0, y1 = -0.12 * CANON_FACE, scaled[CHIN, 1] + 0.3 * CANON_FACE
    reference = scaled - [x0, y0]
    return reference.astype(np.float32), (int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0)))


def to_canonical(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """2x3 similarity transform taking a frame's stable landmarks onto the reference's."""
    matrix, _ = cv2.estimateAffinePartial2D(points[STABLE], reference[STABLE], method=cv2.LMEDS)
    if matrix is None:
        matrix, _ = cv2.estimateAffinePartial2D(points[STABLE], reference[STABLE])
    return matrix.astype(np.float32)


def head_pose(points: np.ndarray) -> np.ndarray:
    """Where the nose tip sits relative to the eye-chin frame: a cheap yaw/pitch proxy in face heights."""
    fh = face_height(points)
    eyes = (points[LEFT_EYE_OUTER] + points[RIGHT_EYE_OUTER]) / 2
    across = points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]
    across /= max(float(np.linalg.norm(across)), 1e-6)
    down = np.array([-across[1], across[0]])
    offset = points[NOSE_TIP] - eyes
    return np.array([np.dot(offset, across), np.dot(offset, down)], np.float32) / fh


def build_bank(prepared: PreparedTemplate, tracks: Tracks) -> MouthBank:
    """Decode the template once and cut an aligned lower-face crop from every frame with a face."""
    present = np.where(tracks.present)[0]
    if len(present) > MAX_BANK:
        present = present[np.linspace(0, len(present) - 1, MAX_BANK).astype(int)]
    keep = set(int(i) for i in present)
    middle = int(present[len(present) // 2])
    reference, (width, height) = canonical_reference(tracks.points[middle])
    crops = np.zeros((len(present), height, width, 3), np.uint8)
    canon_points = np.zeros((len(present), LANDMARK_COUNT, 2), np.float32)
    slot = 0
    for index, frame in enumerate(iter_frames(prepared.source, probe(prepared.source))):
        if index not in keep:
            continue
        matrix = to_canonical(tracks.points[index], reference)
        crops[slot] = cv2.warpAffine(frame, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
        canon_points[slot] = tracks.points[index] @ matrix[:, :2].T + matrix[:, 2]
        slot += 1
    crops, canon_points = crops[:slot], canon_points[:slot]
    chosen = present[:slot]
    sharpness = np.array([_mouth_detail(crop, pts) for crop, pts in zip(crops, canon_points)], np.float32)
    sharpness /= max(float(np.median(sharpness)), 1e-6)
    return MouthBank(
        crops=crops, points=canon_points,
        openings=np.array([mouth_opening(tracks.points[i]) for i in chosen], np.float32),
        widths=np.array([mouth_width(tracks.points[i]) for i in chosen], np.float32),
        poses=np.stack([head_pose(tracks.points[i]) for i in chosen]),
        sharpness=sharpness,
        reference=reference,
    )


def _mouth_detail(crop: np.ndarray, points: np.ndarray) -> float:
    """Variance of the Laplacian around the mouth: low in motion-blurred frames."""
    lo = np.maximum(points[OUTER_LIPS].min(0) - 6, 0).astype(int)
    hi = points[OUTER_LIPS].max(0).astype(int) + 6
    patch = cv2.cvtColor(crop[lo[1]:hi[1], lo[0]:hi[0]], cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(patch, cv2.CV_32F).var()) if patch.size else 0.0


def mouth_asymmetry(points: np.ndarray) -> float:
    """How twisted the mouth is: corner height difference and centre offset from the nose, in face heights."""
    fh = max(face_height(points), 1.0)
    down = (points[CHIN] - points[FOREHEAD]) / fh
    across = np.array([down[1], -down[0]])
    tilt = abs(float(np.dot(points[MOUTH_LEFT] - points[MOUTH_RIGHT], down)))
    centre = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) / 2
    shift = abs(float(np.dot(centre - points[NOSE_TIP], across)))
    return (tilt + shift) / fh


def load_or_build_bank(prepared: PreparedTemplate, tracks: Tracks) -> MouthBank:
    """The bank from the template cache, built and saved there on first use; its crops are memory-mapped."""
    return cached_arrays(prepared.cache_path / f"mouthbank-v{BANK_VERSION}.npz", MouthBank,
                         lambda: build_bank(prepared, tracks), mapped=("crops",))


def remove_stale_banks(prepared: PreparedTemplate) -> None:
    """Bank files of another BANK_VERSION or LOOKS_VERSION, left by an earlier facecast: never read again, and
    a bank is tens of MB. (A file being written has a hidden temporary name, which this leaves alone.)"""
    current = {f"mouthbank-v{BANK_VERSION}.npz", f"mouthbank-v{BANK_VERSION}.crops.npy",
               f"mouthbank-v{BANK_VERSION}-looks-v{LOOKS_VERSION}.npz"}
    for path in prepared.cache_path.glob("mouthbank-v*"):
        if path.name not in current:
            path.unlink(missing_ok=True)


def bank_looks(prepared: PreparedTemplate, bank: MouthBank) -> MouthLooks:
    """The measures that tell which crops look like speech (expression.judge), kept in the template cache:
    taking them costs 0.3-0.7 ms a crop."""
    def measure() -> MouthLooks:
        twist = np.array([mouth_asymmetry(p) for p in bank.points], np.float32)
        return measure_looks(bank.crops, bank.points, twist)

    return cached_arrays(prepared.cache_path / f"mouthbank-v{BANK_VERSION}-looks-v{LOOKS_VERSION}.npz", MouthLooks,
                         measure)


def target_openings(bank: MouthBank, plan: MouthPlan, allowed: np.ndarray) -> np.ndarray:
    """The planned opening per frame in this person's own range: a loud syllable reaches the widest mouth they
    show while speaking (MAX_OPENING maps past it), a typical one most of the way."""
    low, high = np.percentile(bank.openings[allowed], [2, 98])
    scale = max(high - low, 1e-3) / TYPICAL_OPENING
    # plan.opening already carries the press (opening * (1 - press)): scaling by it again would close the
    # frames at a closure's edges twice over.
    target = np.clip(low + plan.opening * scale, low, high)
    return np.where(plan.press > PRESS_SHUT, low, target)


def choose_frames(bank: MouthBank, plan: MouthPlan, current_poses: np.ndarray, allowed: np.ndarray,
                  twist: np.ndarray) -> np.ndarray:
    """Bank index per output frame: speech-like, close to the planned state and pose, smooth over time (Viterbi).
    `twist`: each crop's mouth_asymmetry (MouthLooks.twist)."""
    target_open = target_openings(bank, plan, allowed)
    target_width = np.median(bank.widths[allowed]) * (1.0 + 0.08 * plan.width)
    # Grimaces (lips stretched thin over bared teeth) are not speech: steer away from them.
    thickness = np.array([lip_thickness(p) for p in bank.points], np.float32)
    expression = (1.5 * np.abs(thickness - np.median(thickness))
                  + 0.8 * np.maximum(bank.widths - np.percentile(bank.widths, 75), 0)
                  + 1.0 * np.maximum(twist - np.percentile(twist, 50), 0)
                  + 0.04 * np.clip(1.0 - bank.sharpness, 0, 1)
                  + np.where(allowed, 0.0, _NOT_SPEECH_COST))
    count = plan.frame_count
    candidates = np.zeros((count, CANDIDATES), np.int64)
    costs = np.zeros((count, CANDIDATES), np.float32)
    k = min(CANDIDATES, len(bank.openings))
    for first in range(0, count, 2048):
        last = min(count, first + 2048)
        # The opening weighs most: with the odd faces filtered out the widest crops are few, and a near miss
        # on the opening costs more sync than a near miss on width or pose costs looks.
        cost = (OPENING_WEIGHT * np.abs(bank.openings[None, :] - target_open[first:last, None])
                + 0.5 * np.abs(bank.widths[None, :] - target_width[first:last, None])
                + 1.0 * np.linalg.norm(bank.poses[None, :, :] - current_poses[first:last, None, :], axis=2)
                + expression[None, :])
        best = np.argpartition(cost, k - 1, axis=1)[:, :k]
        candidates[first:last, :k] = best
        costs[first:last, :k] = np.take_along_axis(cost, best, axis=1)
    if k < CANDIDATES:
        candidates[:, k:] = candidates[:, :1]
        costs[:, k:] = costs[:, :1]
    # Viterbi: staying on consecutive (or the same) bank entries is free, jumping costs SWITCH_COST.
    total = costs[0].copy()
    back = np.zeros((count, CANDIDATES), np.int64)
    for i in range(1, count):
        previous = candidates[i - 1][:, None]
        step = candidates[i][None, :] - previous
        transition = np.where((step == 1) | (step == 0), 0.0, SWITCH_COST).astype(np.float32)
        transition += 0.3 * np.abs(bank.openings[candidates[i]][None, :] - bank.openings[candidates[i - 1]][:, None])
        scores = total[:, None] + transition
        back[i] = np.argmin(scores, axis=0)
        total = scores[back[i], np.arange(CANDIDATES)] + costs[i]
    path = np.zeros(count, np.int64)
    path[-1] = int(np.argmin(total))
    for i in range(count - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return candidates[np.arange(count), path]


def lip_thickness(points: np.ndarray) -> float:
    """Upper plus lower lip height / face height: thin when lips are stretched over bared teeth."""
    upper = np.linalg.norm(points[UPPER_OUTER_LIP] - points[UPPER_INNER_LIP])
    lower = np.linalg.norm(points[LOWER_INNER_LIP] - points[LOWER_OUTER_LIP])
    return float(upper + lower) / max(face_height(points), 1.0)


class MouthBankRenderer:
    """Pastes the chosen own-mouth crop into each frame."""

    name = "mouthbank"

    def __init__(self, bank: MouthBank, chosen: np.ndarray, plan: MouthPlan, allowed: np.ndarray,
                 template_frames: np.ndarray) -> None:
        self.bank = bank
        self.chosen = chosen
        self.plan = plan
        self.targets = target_openings(bank, plan, allowed)
        self.template_frames = template_frames  # output frame -> the template frame it is drawn on
        self._crop_colours: dict[int, ColourStats | None] = {}  # bank entry -> its skin colour
        self._frame_colours: dict[int, ColourStats | None] = {}  # template frame -> its skin colour

    @classmethod
    def build(cls, bank: MouthBank, looks: MouthLooks, allowed: np.ndarray, tracks: Tracks, plan: MouthPlan,
              start_frame: int = 0) -> MouthBankRenderer:
        """Choose a speech-like crop for every output frame of `plan` (`allowed`: the speech-like entries)."""
        order = np.fromiter(pingpong_indices(tracks.frame_count, plan.frame_count, start_frame), np.int64,
                            count=plan.frame_count)
        neutral = np.median(bank.poses, axis=0)
        poses = np.array([head_pose(tracks.points[i]) if tracks.present[i] else neutral for i in order])
        chosen = choose_frames(bank, plan, poses, allowed, looks.twist)
        logger.info("mouth bank: %d crops, %d distinct used for %d frames", len(bank.openings),
                    len(np.unique(chosen)), plan.frame_count)
        return cls(bank, chosen, plan, allowed, order)

    def render(self, frame: np.ndarray, points: np.ndarray, index: int) -> np.ndarray:
        """Draws into `frame` in place and returns it.

        All the work happens in the bank's canonical space, at the crops' own scale (a face CANON_FACE pixels
        high), and the result is resampled into the frame once: the frame's face may be twice as large, but the
        crops carry no more detail than that.
        """
        to_canon = to_canonical(points, self.bank.reference)
        here = points @ to_canon[:, :2].T + to_canon[:, 2]  # this frame's landmarks in canonical coordinates
        mouth, weight = self._canonical_mouth(frame, to_canon, here, index)
        blend_warped(frame, mouth, weight, cv2.invertAffineTransform(to_canon))
        return frame

    def _canonical_mouth(self, frame: np.ndarray, to_canon: np.ndarray, here: np.ndarray,
                         index: int) -> tuple[np.ndarray, np.ndarray]:
        """The chosen crop fitted to this frame's face, colour matched and tuned to the planned opening, with
        its blend weight; both on the canonical crop grid."""
        entry = int(self.chosen[index])
        crop, crop_points = self.bank.crops[entry], self.bank.points[entry]
        height, width = crop.shape[:2]
        whole = Region(0, 0, width, height)
        fh = face_height(here)
        # Bend the crop so its cheeks and nose base sit exactly on this frame's (no seam), while the mouth and
        # chin it brings stay as they are.
        fitted = warp_points(crop, crop_points[_BOUNDARY], here[_BOUNDARY], crop_points[_MOUTH_AND_CHIN], whole,
                             sigma=0.09 * fh)
        polygon = np.concatenate([lower_face_polygon(here), lower_face_polygon(crop_points)])
        weight = feathered_mask(polygon, whole, feather_px=0.06 * fh)
        weight[:, :_EDGE], weight[:, -_EDGE:], weight[:_EDGE], weight[-_EDGE:] = 0, 0, 0, 0
        table = self._colour_table(frame, to_canon, here, entry, int(self.template_frames[index]))
        if table is not None:
            fitted = cv2.LUT(fitted, table)
        # Fine-tune the pasted mouth to the planned opening: a small warp of the person's real mouth.
        fitted_points = here.copy()
        fitted_points[_MOUTH_AND_CHIN] = crop_points[_MOUTH_AND_CHIN]
        tuned = draw_mouth(fitted, fitted_points, float(self.targets[index]) - CLOSED_GAP,
                           float(self.plan.width[index]) * 0.3, 0.0, paint_below_gap=0.012)
        return tuned, weight


    def _colour_table(self, frame: np.ndarray, to_canon: np.ndarray, here: np.ndarray, entry: int,
                      template_frame: int) -> np.ndarray | None:
        """Lookup table bringing the crop's skin colour to this frame's, each measured on its own lower face
        without the lips (whose content differs on purpose). A crop's figures are taken once, and so are a
        template frame's, which comes back on every loop of the template; the frame's on a grid of half the
        crop's resolution, which gives the same means for a quarter of the work."""
        if entry not in self._crop_colours:
            crop, crop_points = self.bank.crops[entry], self.bank.points[entry]
            self._crop_colours[entry] = masked_colour(crop, skin_weight(crop_points, crop.shape[1::-1]))
        if template_frame not in self._frame_colours:
            height, width = self.bank.crops.shape[1:3]
            size = (-(-width // _STATS_STEP), -(-height // _STATS_STEP))
            current = cv2.warpAffine(frame, to_canon / _STATS_STEP, size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
            self._frame_colours[template_frame] = masked_colour(current, skin_weight(here / _STATS_STEP, size))
        source, reference = self._crop_colours[entry], self._frame_colours[template_frame]
        return None if source is None or reference is None else colour_table(source, reference)


def skin_weight(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Where the colour of the lower face is measured: inside it, away from the lips; on a (width, height) grid."""
    region = Region(0, 0, *size)
    lips = feathered_mask(points[OUTER_LIPS], region, 0.1 * face_height(points))
    return np.clip(feathered_mask(lower_face_polygon(points), region, 0) - lips, 0, 1)


def own_mouth_renderer(prepared: PreparedTemplate, tracks: Tracks, plan: MouthPlan,
                       start_frame: int = 0) -> MouthBankRenderer | ParametricRenderer:
    """The mouth bank renderer, or the parametric mouth when too few of the template's mouths look like speech."""
    remove_stale_banks(prepared)
    bank = load_or_build_bank(prepared, tracks)
    looks = bank_looks(prepared, bank)
    verdict = judge(looks)
    logger.info("mouth bank: %s", verdict.summary())
    count = int(verdict.speech_like.sum())
    if count < MIN_SPEECH_LIKE:
        logger.warning("mouth bank too small (%d speech-like crops, %d needed): using the parametric mouth",
                       count, MIN_SPEECH_LIKE)
        return ParametricRenderer(plan, name=f"parametric (bank too small: {count} speech-like frames)")
    return MouthBankRenderer.build(bank, looks, verdict.speech_like, tracks, plan, start_frame)
