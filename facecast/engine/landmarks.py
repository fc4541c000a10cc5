"""Face detection and dense landmarks from the models that ship inside mediapipe 0.10.21 (no downloads).

The face mesh gives 478 points per face. It is run on a square crop around the face, scaled to a fixed size,
so small faces (full-body shots, seated portraits) get the same number of pixels as close-ups.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .mesh_model import DirectMesh, direct_mesh_or_none
from .native import native_stderr_silenced

logger = logging.getLogger(__name__)

LANDMARK_COUNT = 478  # points of the refined face mesh: 468 on the face and ten on the irises
# Landmark indices of the mediapipe face mesh that the engine relies on.
FOREHEAD = 10
CHIN = 152
NOSE_TIP = 1
UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14
UPPER_OUTER_LIP = 0   # top edge of the upper lip, on the midline
LOWER_OUTER_LIP = 17  # bottom edge of the lower lip, on the midline
MOUTH_LEFT = 61
MOUTH_RIGHT = 291
INNER_LEFT = 78
INNER_RIGHT = 308
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
OUTER_LIPS = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
JAW = [132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361]
LEFT_EYE_UPPER, LEFT_EYE_LOWER = [246, 161, 160, 159, 158, 157, 173], [7, 163, 144, 145, 153, 154, 155]
RIGHT_EYE_UPPER, RIGHT_EYE_LOWER = [466, 388, 387, 386, 385, 384, 398], [249, 390, 373, 374, 380, 381, 382]
# Points that do not move with the mouth: the anchor for aligning one frame's face to another's.
STABLE = [33, 133, 362, 263, 1, 4, 6, 168, 197, 195, 5, 98, 327, 234, 454, 127, 356]

MESH_INPUT = 256     # crop size fed to the mesh: faces get this many pixels whatever their size in the frame
CROP_SCALE = 1.7     # crop side / face size (forehead-chin height and cheek-to-cheek width)


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face in frame pixels (centre and side of a square that holds it)."""

    cx: float
    cy: float
    size: float
    score: float = 1.0


def face_height(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[FOREHEAD] - points[CHIN]))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap divided by face height: the unit every mouth measure in facecast uses."""
    return float(np.linalg.norm(points[UPPER_INNER_LIP] - points[LOWER_INNER_LIP])) / max(face_height(points), 1.0)


def mouth_width(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[MOUTH_LEFT] - points[MOUTH_RIGHT])) / max(face_height(points), 1.0)


def box_from_points(points: np.ndarray) -> FaceBox:
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    return FaceBox(float(centre[0]), float(centre[1]), float(max(hi - lo)))


@dataclass(frozen=True, slots=True)
class _Graphs:
    """mediapipe's graphs: the face detector, the mesh on a detection of its own, the mesh that follows."""

    detector: object
    mesh: object
    following_mesh: object

    @classmethod
    def load(cls) -> _Graphs:
        with native_stderr_silenced():
            mp = _import_mediapipe()
            face_mesh = mp.solutions.face_mesh.FaceMesh
            graphs = cls(
                detector=mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5),
                mesh=face_mesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                               min_detection_confidence=0.4),
                # The same mesh fed from its previous landmarks instead of a detection on every crop: a quarter
                # cheaper, for frames of one video that follow each other (see Landmarker.landmarks).
                following_mesh=face_mesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.4))
            # The graphs load their models on worker threads and log as they do: run each once, so that
            # all of it happens while stderr is muted.
            blank = np.zeros((MESH_INPUT, MESH_INPUT, 3), np.uint8)
            for graph in (graphs.detector, graphs.mesh, graphs.following_mesh):
                graph.process(blank)  # type: ignore[attr-defined]
        return graphs


class Landmarker:
    """Runs mediapipe's full-range face detector and the 478-point face mesh on crops. Not thread-safe.

    mediapipe (0.6 s of CPU to import and load) is loaded on the first detection or mesh: a process that only
    measures rendered videos, whose faces it is told, follows them with the direct mesh and may never need it.
    """

    def __init__(self) -> None:
        self._loaded: _Graphs | None = None
        self._graph_clocks: list[int] = []
        self._per_thread_clocks = os.path.isdir("/proc/self/task")  # Linux tells each thread's CPU time there
        self._direct: DirectMesh | None = None
        self._direct_tried = False
        self._loading = threading.Lock()  # two threads must not both load the graphs or the direct mesh
        self._lock = threading.Lock()
        self._account = threading.local()  # CPU seconds each thread has spent holding the landmarker
        self._quiet_calls = 4  # the first real inferences may log once more

    def ready_to_follow(self) -> None:
        """Load what following a face takes: the direct mesh, or mediapipe's graphs where LiteRT is missing
        (the gate loads it before it starts counting its CPU time)."""
        if self.direct_mesh() is None:
            self._graphs()

    def direct_mesh(self) -> DirectMesh | None:
        """The mesh's trunk and lips run directly (mesh_model), for following a face at a third of the CPU;
        None where LiteRT is not installed. Loaded on first use, once per process."""
        with self._loading:
            if not self._direct_tried:
                self._direct, self._direct_tried = direct_mesh_or_none(), True
        return self._direct

    def _graphs(self) -> _Graphs:
        with self._loading:
            if self._loaded is None:
                before = self._cpu_now()
                self._loaded = _Graphs.load()
                self._graph_clocks = _graph_thread_clocks()
                # what loading cost this thread and the new graph threads: held() leaves it out of the account
                self._account.loading_s = getattr(self._account, "loading_s", 0.0) + self._cpu_now() - before
        return self._loaded

    @contextmanager
    def held(self) -> Iterator["Landmarker"]:
        """The landmarker to oneself for a while (it is not thread-safe). The CPU time spent holding it, by the
        calling thread and by mediapipe's own graph threads, is added to the caller's account (cpu_s); loading
        mediapipe on the way is not."""
        with self._lock:
            start, loading = self._cpu_now(), getattr(self._account, "loading_s", 0.0)
            try:
                yield self
            finally:
                spent = self._cpu_now() - start - (getattr(self._account, "loading_s", 0.0) - loading)
                self._account.cpu_s = getattr(self._account, "cpu_s", 0.0) + spent

    def cpu_s(self) -> float | None:
        """CPU seconds the calling thread has spent holding the landmarker, graph threads included; None where
        the system does not tell a thread's CPU time (Linux does, in /proc)."""
        spent = getattr(self._account, "cpu_s", 0.0)
        return None if np.isnan(spent) else spent

    def _cpu_now(self) -> float:
        if not self._per_thread_clocks:
            return float("nan")
        try:  # about 5 us for the four graph threads: the files stay open, each read asks the kernel afresh
            graphs = sum(int(os.pread(clock, 64, 0).split()[0]) for clock in self._graph_clocks)
        except (OSError, ValueError, IndexError):
            return float("nan")
        return time.thread_time() + graphs / 1e9

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in an RGB frame, largest first. Small frames and small faces are retried on an upscaled copy."""
        boxes = self._detect_once(image, 1.0)
        if not boxes and max(image.shape[:2]) < 1600:
            boxes = self._detect_once(cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR), 2.0)
        if not boxes:
            boxes = self._detect_tiles(image)
        return sorted(boxes, key=lambda b: -b.size)

    def _detect_once(self, image: np.ndarray, scale: float) -> list[FaceBox]:
        height, width = image.shape[:2]
        result = self._process(self._graphs().detector, np.ascontiguousarray(image))
        boxes = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            w, h = rel.width * width, rel.height * height
            boxes.append(FaceBox((rel.xmin * width + w / 2) / scale, (rel.ymin * height + h / 2) / scale,
                                 max(w, h) / scale, float(detection.score[0])))
        return boxes

    def _detect_tiles(self, image: np.ndarray) -> list[FaceBox]:
        """Faces too small for the detector on the whole frame: look at overlapping halves, upscaled."""
        height, width = image.shape[:2]
        boxes = []
        tile_h, tile_w = height // 2, width // 2
        for y0 in (0, height // 4, height // 2):
            for x0 in (0, width // 4, width // 2):
                tile = image[y0:y0 + tile_h, x0:x0 + tile_w]
                for box in self._detect_once(cv2.resize(tile, None, fx=2.0, fy=2.0), 2.0):
                    boxes.append(FaceBox(box.cx + x0, box.cy + y0, box.size, box.score))
        return _merge_boxes(boxes)

    def landmarks(self, image: np.ndarray, box: FaceBox, crop_scale: float = CROP_SCALE,
                  following: bool = False) -> np.ndarray | None:
        """478 (x, y) landmarks in frame pixels for the face in `box`, or None if the mesh finds no face.

        `following`: `box` comes from the landmarks of a frame just before this one, so the face sits where it
        sat in that frame's crop. The mesh then starts from its own last landmarks, and detects the face again
        only where they no longer fit, instead of on every crop (8.5 against 6.2 ms of CPU a frame on two AMD
        EPYC cores, mediapipe's graph threads included).
        """
        side = box.size * crop_scale
        scale = MESH_INPUT / side
        to_crop = np.float32([[scale, 0, MESH_INPUT / 2 - box.cx * scale], [0, scale, MESH_INPUT / 2 - box.cy * scale]])
        crop = cv2.warpAffine(image, to_crop, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_AREA if scale < 1 else
                              cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        graphs = self._graphs()
        result = self._process(graphs.following_mesh if following else graphs.mesh, crop)
        if not result.multi_face_landmarks:
            return None
        points = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], dtype=np.float32)
        points *= MESH_INPUT
        points[:, 0] = (points[:, 0] - to_crop[0, 2]) / scale
        points[:, 1] = (points[:, 1] - to_crop[1, 2]) / scale
        return points

    def _process(self, graph: object, image: np.ndarray) -> object:
        if self._quiet_calls <= 0:
            return graph.process(image)  # type: ignore[attr-defined]
        self._quiet_calls -= 1
        with native_stderr_silenced():
            return graph.process(image)  # type: ignore[attr-defined]


# mediapipe's drawing helpers, which the engine never calls: they import matplotlib.pyplot (0.25 s of CPU in
# every process that tracks, over half of importing mediapipe).
_UNUSED_MEDIAPIPE_MODULES = ("mediapipe.python.solutions.drawing_utils", "mediapipe.python.solutions.drawing_styles")


def _import_mediapipe() -> types.ModuleType:
    """mediapipe, imported when tracking first runs, without its drawing helpers: empty modules stand in for
    them while it imports, and are taken out again, so that code which wants the real ones still gets them."""
    stand_ins = {name: types.ModuleType(name) for name in _UNUSED_MEDIAPIPE_MODULES if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        import mediapipe
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return mediapipe


def _graph_thread_clocks() -> list[int]:
    """Open files telling the run time of each thread mediapipe runs its graphs on (it names them), where
    /proc lists threads (Linux); none elsewhere. They stay open for the process's one landmarker."""
    try:
        threads = [Path("/proc/self/task", tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return []
    clocks = []
    for thread in threads:
        try:  # a thread of another stage (a decoder's, say) may end between the listing and this read
            if (thread / "comm").read_text().startswith("mediapipe"):
                clocks.append(os.open(thread / "schedstat", os.O_RDONLY))
        except OSError:
            continue
    return clocks


def _merge_boxes(boxes: list[FaceBox]) -> list[FaceBox]:
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(np.hypot(box.cx - k.cx, box.cy - k.cy) > 0.5 * max(box.size, k.size) for k in kept):
            kept.append(box)
    return kept


@lru_cache(maxsize=1)
def shared_landmarker() -> Landmarker:
    """One landmarker per process: mediapipe's graphs (0.6 s of CPU) and the direct mesh load once, when first
    needed."""
    return Landmarker()
