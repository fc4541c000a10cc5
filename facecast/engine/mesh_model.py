"""The face mesh's lips, run directly: mouth openings of a face already being followed, at a third of the CPU.

mediapipe's FaceMesh graph runs face_landmark_with_attention.tflite: a trunk that gives 468 points and a
feature map, then three small heads that refine the lips, the eyes and the irises on crops of that map,
cut by three custom operators only mediapipe's own runtime has. Through its graph threads a frame costs
about 6 ms of CPU here. Measuring a mouth needs the trunk and the lips head only, so DirectMesh runs those
two parts of the same file through LiteRT and does the custom operators' arithmetic (a crop transform, a
bilinear resampling of 16 x 16 x 32 features, a point transform) in numpy: about 2.4 ms a frame, with lips
within a pixel of mediapipe's on average (test_tracking compares them). The eyes keep the trunk's points and
the irises are not computed.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .files import default_cache_dir, write_bytes_atomic, write_json_atomic
from .native import native_stderr_silenced

logger = logging.getLogger(__name__)

MODEL_INPUT = 192   # the model's input side, in pixels; its input is RGB in 0..1
ROI_SCALE = 1.5     # crop side / the landmarks' extent, as mediapipe crops around a followed face
MESH_POINTS = 468   # the trunk's points; the 478 of a refined mesh add ten on the irises
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263  # the line between them gives the face's roll
# The lips head's 80 points, in its output order, as mesh indices (mediapipe's LandmarksRefinement for the lips).
LIPS_POINTS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
               78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
               76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408,
               62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407)
# Tensors of face_landmark_with_attention.tflite where the model is cut around its custom operators.
_TRUNK_OUTPUTS = ("output_mesh", "multiply_by_constant", "p_re_lu_3", "conv_faceflag")
_LIPS_INPUTS = ("transform_tensor_bilinear_v2", "landmarks_to_transform_matrix_v2")
_LIPS_OUTPUTS = ("reshape_1", "multiply_by_constant_1")


def model_path() -> Path:
    """face_landmark_with_attention.tflite inside the installed mediapipe package (found without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mediapipe is not installed; install facecast with its dependencies")
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder / "modules" / "face_landmark" / "face_landmark_with_attention.tflite"


def direct_mesh_or_none() -> DirectMesh | None:
    """A DirectMesh, or None where LiteRT has no wheel for this platform (then mediapipe's graph is used)."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        logger.info("ai-edge-litert is not installed: the mouth is measured through mediapipe's graph (slower)")
        return None
    return DirectMesh(*split_model(model_path()))


def split_model(path: Path, cache: Path | None = None) -> tuple[bytes, bytes, _LipsCrop]:
    """The trunk and the lips head of the model at `path` as two models (see _split_model), kept in `cache`
    (default: the template cache's .models folder) under the model's digest: cutting them out costs a
    quarter of a second of CPU, reading them back a few milliseconds. An unwritable cache is skipped."""
    model = path.read_bytes()
    folder = (cache or default_cache_dir() / ".models") / f"face-mesh-{hashlib.sha256(model).hexdigest()[:16]}"
    parts = [folder / name for name in ("trunk.tflite", "lips.tflite", "lips-crop.json")]
    try:
        if all(part.exists() for part in parts):
            crop = _LipsCrop(**json.loads(parts[2].read_text()))
            return parts[0].read_bytes(), parts[1].read_bytes(), replace(crop, subset=tuple(crop.subset))
    except (OSError, ValueError, TypeError) as error:
        logger.warning("the cached face mesh parts in %s are unreadable (%s); cutting them again", folder, error)
    trunk, lips, crop = _split_model(model)
    try:
        write_bytes_atomic(parts[0], trunk)
        write_bytes_atomic(parts[1], lips)
        write_json_atomic(parts[2], asdict(crop))  # last: its presence means the set is complete
    except OSError as error:
        logger.info("the face mesh parts are not cached (%s): %s", folder, error)
    return trunk, lips, crop


@dataclass(frozen=True, slots=True)
class _LipsCrop:
    """The lips head's crop of the trunk's feature map (the model's Landmarks2TransformMatrix options)."""

    left: int
    right: int
    subset: tuple[int, ...]
    size: int
    scale: float


class DirectMesh:
    """Mesh points (lips refined) of a face from where it was in an earlier frame. One thread; not thread-safe."""

    def __init__(self, trunk: bytes, lips: bytes, crop: _LipsCrop) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._crop = crop
        with native_stderr_silenced():  # LiteRT notes that it uses XNNPACK
            self._trunk = Interpreter(model_content=trunk, num_threads=1)  # one thread: its CPU is the caller's
            self._lips = Interpreter(model_content=lips, num_threads=1)
            for interpreter in (self._trunk, self._lips):
                interpreter.allocate_tensors()
        self._trunk_in = self._trunk.get_input_details()[0]["index"]
        self._trunk_out = {d["name"]: d["index"] for d in self._trunk.get_output_details()}
        self._lips_in = {d["name"]: d["index"] for d in self._lips.get_input_details()}
        self._lips_out = {d["name"]: d["index"] for d in self._lips.get_output_details()}

    def follow(self, image: np.ndarray, centre: tuple[float, float], size: float,
               previous: np.ndarray | None = None) -> np.ndarray | None:
        """468 points (frame pixels) of the face in the square `centre`, `size` (the extent of its points in an
        earlier frame), turned as the eyes of `previous` (those points) lie, upright without them; None when no
        face is there."""
        roll = 0.0
        if previous is not None:
            eyes = previous[RIGHT_EYE_OUTER] - previous[LEFT_EYE_OUTER]
            roll = float(np.arctan2(eyes[1], eyes[0]))
        to_crop = _crop_transform(np.asarray(centre, np.float64), size * ROI_SCALE, roll)
        crop = cv2.warpAffine(image, to_crop, (MODEL_INPUT, MODEL_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        found = self._points(crop.astype(np.float32) / 255)
        if found is None:
            return None
        to_frame = cv2.invertAffineTransform(to_crop)
        return (found @ to_frame[:, :2].T + to_frame[:, 2]).astype(np.float32)

    def _points(self, crop: np.ndarray) -> np.ndarray | None:
        """The 468 points of a 192 x 192 crop in its pixels, lips from the lips head; None below even odds of a face."""
        trunk, out = self._trunk, self._trunk_out
        trunk.set_tensor(self._trunk_in, crop[None])
        trunk.invoke()
        if float(trunk.get_tensor(out["conv_faceflag"]).ravel()[0]) < 0.0:  # a logit: p(face) < 0.5
            return None
        points = trunk.get_tensor(out["output_mesh"]).reshape(MESH_POINTS, 3)[:, :2].copy()
        on_features = trunk.get_tensor(out["multiply_by_constant"])[0]  # the points on the feature map's grid
        to_features = _lips_crop_matrix(on_features, self._crop)
        features = _bilinear_crop(trunk.get_tensor(out["p_re_lu_3"])[0], to_features, self._crop.size)
        self._lips.set_tensor(self._lips_in[_LIPS_INPUTS[0]], features[None])
        self._lips.set_tensor(self._lips_in[_LIPS_INPUTS[1]], to_features[None])
        self._lips.invoke()
        lips = self._lips.get_tensor(self._lips_out[_LIPS_OUTPUTS[0]])[0]
        to_crop = self._lips.get_tensor(self._lips_out[_LIPS_OUTPUTS[1]])[0]
        points[list(LIPS_POINTS)] = lips @ to_crop[:2, :2].T + to_crop[:2, 3]
        return points


def _crop_transform(centre: np.ndarray, side: float, roll: float) -> np.ndarray:
    """Frame -> crop: the square of `side` around `centre`, turned by -roll so that the eyes lie level."""
    scale = MODEL_INPUT / side
    cos, sin = np.cos(roll) * scale, np.sin(roll) * scale
    transform = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    transform[:, 2] = MODEL_INPUT / 2 - transform[:, :2] @ centre
    return transform


def _lips_crop_matrix(points: np.ndarray, crop: _LipsCrop) -> np.ndarray:
    """4 x 4 map from the lips crop's grid to the feature map's: the box of the lips turned level between the
    mouth corners, scaled by crop.scale (what the model's Landmarks2TransformMatrix v2 computes)."""
    left, right = points[crop.left, :2], points[crop.right, :2]
    turn = -float(np.arctan2(right[1] - left[1], right[0] - left[0]))
    turn_back = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    level = points[list(crop.subset), :2] @ turn_back  # each point turned by `turn`
    low, high = level.min(axis=0), level.max(axis=0)
    matrix = np.eye(4)
    matrix[:2, :2] = turn_back * ((high - low) * crop.scale / crop.size)
    matrix[:2, 3] = turn_back @ ((low + high) / 2) - matrix[:2, :2] @ np.full(2, crop.size / 2)
    return matrix.astype(np.float32)


def _bilinear_crop(features: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """features (H x W x C) resampled on a size x size grid mapped by `matrix`, zero outside (the model's
    TransformTensorBilinear v2: grid points at pixel centres)."""
    height, width, channels = features.shape
    grid = np.indices((size, size), np.float32)[::-1].reshape(2, -1) + np.float32(0.5)  # x, y of each pixel
    x, y = matrix[:2, :2] @ grid + (matrix[:2, 3] - 0.5)[:, None]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    x0, y0 = np.minimum(x.astype(np.int32), width - 2), np.minimum(y.astype(np.int32), height - 2)
    fx, fy = (x - x0.astype(np.float32))[:, None], (y - y0.astype(np.float32))[:, None]
    flat = features.reshape(-1, channels)
    corner = np.where(inside, y0 * width + x0, 0)
    top = flat[corner] * (1 - fx) + flat[corner + 1] * fx
    bottom = flat[corner + width] * (1 - fx) + flat[corner + width + 1] * fx
    return ((top * (1 - fy) + bottom * fy) * inside[:, None]).reshape(size, size, channels)


def _split_model(model: bytes) -> tuple[bytes, bytes, _LipsCrop]:
    """The trunk (image -> points, feature map, face flag) and the lips head (cropped features -> lips) as two
    models LiteRT runs, and the options of the lips crop between them."""
    from ai_edge_litert import schema_py_generated as schema
    from flatbuffers import flexbuffers

    parsed = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    graph = parsed.subgraphs[0]
    tensor = {t.name.decode(): index for index, t in enumerate(graph.tensors)}
    producer = {output: index for index, op in enumerate(graph.operators) for output in op.outputs}
    options = flexbuffers.Loads(bytes(graph.operators[producer[tensor[_LIPS_INPUTS[1]]]].customOptions))
    crop = _LipsCrop(left=options["left_rotation_idx"], right=options["right_rotation_idx"],
                     subset=tuple(options["subset_idxs"]), size=options["output_width"], scale=options["scale_x"])
    if crop.subset != LIPS_POINTS or options["output_height"] != crop.size or options["scale_y"] != crop.scale:
        raise ValueError("not the face mesh model facecast knows: its lips crop differs")

    def part(inputs: tuple[str, ...], outputs: tuple[str, ...]) -> bytes:
        ins, outs = [tensor[name] for name in inputs], [tensor[name] for name in outputs]
        needed, pending = set(), list(outs)
        while pending:  # the operators the outputs depend on, back to the inputs and the constants
            index = pending.pop()
            if index in ins or index not in producer or producer[index] in needed:
                continue
            needed.add(producer[index])
            pending.extend(i for i in graph.operators[producer[index]].inputs if i >= 0)
        subgraph = copy.copy(graph)
        subgraph.operators = [graph.operators[index] for index in sorted(needed)]
        subgraph.inputs, subgraph.outputs = ins, outs
        whole = copy.copy(parsed)
        whole.subgraphs, whole.signatureDefs = [subgraph], []
        return _packed(whole, len(model))

    return part(("input_1",), _TRUNK_OUTPUTS), part(_LIPS_INPUTS, _LIPS_OUTPUTS), crop


def _packed(model: object, size_hint: int) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")  # type: ignore[attr-defined]
    return bytes(builder.Output())
