"""Face tracking on real clips: the face is found, followed steadily, chosen as asked, and cached."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facecast.engine import mesh_model
from facecast.engine.errors import NoFaceError
from facecast.engine.landmarks import STABLE, FaceBox, Landmarker, box_from_points, face_height, shared_landmarker
from facecast.engine.mesh_model import LIPS_POINTS, MESH_POINTS
from facecast.engine.options import TrackingOptions
from facecast.engine.pipeline import prepare_template
from facecast.engine.results import PreparedTemplate
from facecast.engine.tracking import Tracks, smooth_tracks, track_frames
from tests.support.media import read_rgb_frames


def test_face_found_in_every_frame_of_a_close_up(man_tracks: Tracks, man_frames: list[np.ndarray]) -> None:
    assert man_tracks.frame_count == len(man_frames) == 216
    assert man_tracks.coverage == 1.0
    height, width = man_frames[0].shape[:2]
    points = man_tracks.points
    assert (points[..., 0] >= 0).all() and (points[..., 0] < width).all()
    assert (points[..., 1] >= 0).all() and (points[..., 1] < height).all()
    assert 150 < face_height(points[0]) < 480
    # the README's measure of this clip: the mouth runs from shut to wide open
    assert man_tracks.mouth_range() > 0.1 and np.nanmin(man_tracks.openings()) < 0.02


def _stable_jitter(tracks: Tracks) -> float:
    """Median frame-to-frame movement of the landmarks that do not move with the mouth, in face heights."""
    steps = np.linalg.norm(np.diff(tracks.points[:, STABLE], axis=0), axis=2)
    return float(np.median(steps) / face_height(tracks.points[0]))


def test_points_are_stable_frame_to_frame(man_tracks: Tracks) -> None:
    assert _stable_jitter(man_tracks) < 0.01


def test_smoothing_removes_jitter_without_moving_the_face(man_tracks: Tracks) -> None:
    noisy = Tracks(points=man_tracks.points.copy(), present=man_tracks.present.copy())
    noisy.points += np.random.default_rng(1).normal(0, 2.0, noisy.points.shape).astype(np.float32)
    before = _stable_jitter(noisy)
    smooth_tracks(noisy, 0.6)
    assert _stable_jitter(noisy) < before / 3
    drift = np.linalg.norm(noisy.points - man_tracks.points, axis=2)
    assert float(np.median(drift)) < 2.0


def test_a_start_box_spares_the_detector_and_a_wrong_one_falls_back_to_it(man_tracks: Tracks,
                                                                           man_frames: list[np.ndarray],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Told where the face is, the follower goes straight to the mesh; told a place with no face, it detects."""
    frames = man_frames[:6]
    detections: list[int] = []
    detect = Landmarker.detect
    monkeypatch.setattr(Landmarker, "detect", lambda self, image: detections.append(1) or detect(self, image))
    told = track_frames(frames, len(frames), TrackingOptions(smoothing=0.0), mesh="following",
                        start_box=box_from_points(man_tracks.points[0]))
    assert not detections and told.coverage == 1.0
    error = np.linalg.norm(told.points - man_tracks.points[:6], axis=2).mean() / face_height(man_tracks.points[0])
    assert error < 0.01
    nowhere = FaceBox(cx=20.0, cy=20.0, size=30.0)  # a corner of plain background
    wrong = track_frames(frames, len(frames), TrackingOptions(smoothing=0.0), mesh="following", start_box=nowhere)
    assert detections and wrong.coverage == 1.0
    assert np.linalg.norm(wrong.points - told.points, axis=2).mean() / face_height(told.points[0]) < 0.01


@pytest.mark.parametrize("clip", ["man", "woman"])
def test_the_direct_mesh_puts_the_lips_where_mediapipe_does(clip: str, man_frames: list[np.ndarray],
                                                             talking_woman_mp4) -> None:
    """The mesh's trunk and lips head run apart (mesh_model) give mediapipe's refined lips, frame after frame,
    on a man opening wide and a woman pulling faces (every other frame, as a video is measured)."""
    frames = (man_frames if clip == "man" else read_rgb_frames(talking_woman_mp4, limit=240))[::2]
    options = TrackingOptions(smoothing=0.0)
    graph = track_frames(frames, len(frames), options, mesh="following")
    direct = track_frames(frames, len(frames), options, mesh="direct")
    assert direct.coverage == 1.0
    lips = list(LIPS_POINTS)
    error = np.linalg.norm(direct.points[:, lips] - graph.points[:, lips], axis=2) / face_height(graph.points[0])
    assert float(np.median(error)) < 0.005 and float(np.percentile(error, 95)) < 0.02
    openings, reference = direct.openings(), graph.openings()
    assert np.corrcoef(openings, reference)[0, 1] > 0.98
    assert abs(direct.mouth_range() - graph.mouth_range()) < 0.1 * graph.mouth_range()
    assert np.isnan(direct.points[1:, MESH_POINTS:]).all()  # the irises are not computed (the first frame is detected)


def test_without_litert_the_direct_mesh_is_mediapipes_graph(man_frames: list[np.ndarray],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Where LiteRT has no wheel, "direct" tracking falls back to mediapipe's following mesh: all 478 points,
    irises included, where that mesh puts them (it keeps its last landmarks between calls, so not to the bit)."""
    find_spec = mesh_model.importlib.util.find_spec
    monkeypatch.setattr(mesh_model.importlib.util, "find_spec",
                        lambda name, *args: None if name == "ai_edge_litert" else find_spec(name, *args))
    assert mesh_model.direct_mesh_or_none() is None
    landmarker = shared_landmarker()
    monkeypatch.setattr(landmarker, "_direct_tried", False)  # as in a process that has not loaded it yet
    monkeypatch.setattr(landmarker, "_direct", None)
    frames = man_frames[:20:2]
    fallback = track_frames(frames, len(frames), TrackingOptions(smoothing=0.0), mesh="direct")
    graph = track_frames(frames, len(frames), TrackingOptions(smoothing=0.0), mesh="following")
    assert not np.isnan(fallback.points).any()
    assert np.linalg.norm(fallback.points - graph.points, axis=2).max() < 0.01 * face_height(graph.points[0])


@pytest.fixture(scope="module")
def two_faces(man_frames: list[np.ndarray], talking_woman_mp4) -> list[np.ndarray]:
    """The man on the left and the woman on the right of one 960x480 picture, five frames."""
    woman = read_rgb_frames(talking_woman_mp4, limit=5)
    return [np.hstack([man, her]) for man, her in zip(man_frames[:5], woman)]


@pytest.mark.parametrize("face, left", [("0", True), ("1", False)])
def test_face_index_picks_faces_left_to_right(two_faces: list[np.ndarray], face: str, left: bool) -> None:
    tracks = track_frames(two_faces, len(two_faces), TrackingOptions(face=face))
    assert tracks.coverage == 1.0
    centre_x = float(np.mean(tracks.points[:, :, 0]))
    assert (centre_x < 480) if left else (centre_x > 480)


def test_a_face_index_beyond_the_faces_shown_finds_none(two_faces: list[np.ndarray]) -> None:
    with pytest.raises(NoFaceError, match="no face in any of the 5 frames"):
        track_frames(two_faces, len(two_faces), TrackingOptions(face="2"), name="two.mp4")


def test_frames_without_a_face_raise_no_face(man_frames: list[np.ndarray]) -> None:
    # the same clip with the face cut away: only the backdrop above the head is left, stretched
    backdrop = [np.ascontiguousarray(np.repeat(frame[:40], 12, axis=0)) for frame in man_frames[:4]]
    with pytest.raises(NoFaceError) as raised:
        track_frames(backdrop, len(backdrop), name="backdrop.mp4")
    assert raised.value.code == "no_face" and "backdrop.mp4" in str(raised.value)


def test_tracks_save_and_load_round_trip(man_tracks: Tracks, tmp_path) -> None:
    gappy = Tracks(points=man_tracks.points[:20].copy(), present=man_tracks.present[:20].copy())
    gappy.present[5:8] = False
    gappy.points[5:8] = np.nan
    gappy.save(tmp_path / "tracks.npz")
    loaded = Tracks.load(tmp_path / "tracks.npz")
    np.testing.assert_array_equal(loaded.present, gappy.present)
    np.testing.assert_array_equal(loaded.points, gappy.points)  # NaN where no face, bit for bit elsewhere
    assert loaded.coverage == pytest.approx(17 / 20)


def test_prepared_tracks_are_cached_by_content(man_prepared: PreparedTemplate, man_tracks: Tracks,
                                               talking_man_mp4, tmp_path) -> None:
    tracks_file = man_prepared.cache_path / "tracks.npz"
    written = tracks_file.stat().st_mtime_ns
    again = prepare_template(talking_man_mp4, cache_dir=man_prepared.cache_path.parent)
    assert again.cache_path == man_prepared.cache_path and again.facts == man_prepared.facts
    assert tracks_file.stat().st_mtime_ns == written  # read back, not tracked again
    assert man_prepared.facts.talking and man_prepared.facts.face_coverage == 1.0
    # a copy under another name has the same content: same cache entry
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(talking_man_mp4.read_bytes())
    assert prepare_template(copy, cache_dir=man_prepared.cache_path.parent).content_hash == man_prepared.content_hash


def test_tracking_leaves_matplotlib_unimported_and_mediapipes_drawing_helpers_importable(media) -> None:
    """mediapipe is imported without its drawing helpers (they pull in matplotlib.pyplot, 0.25 s a process);
    a fresh process tracks a real face that way, and code that wants the helpers still gets the real ones."""
    code = ("import sys, cv2; from facecast.engine.landmarks import shared_landmarker; "
            f"image = cv2.cvtColor(cv2.imread({str(media / 'portrait.jpg')!r}), cv2.COLOR_BGR2RGB); "
            "boxes = shared_landmarker().detect(image); print(len(boxes), 'matplotlib' in sys.modules); "
            "from mediapipe.python.solutions.drawing_utils import DrawingSpec; print(DrawingSpec.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "False", "DrawingSpec"], done.stdout


def test_following_a_face_it_is_told_of_needs_no_mediapipe_and_loading_it_is_not_counted(talking_man_mp4) -> None:
    """A fresh process told where the face is follows it with the direct mesh alone (mediapipe, 0.6 s of CPU
    to load, is never imported); told a wrong place, it loads mediapipe to detect the face, and the CPU time
    counted for tracking leaves the loading out."""
    code = ("import sys; from tests.support.media import read_rgb_frames; "
            "from facecast.engine.landmarks import FaceBox, shared_landmarker; "
            "from facecast.engine.tracking import track_frames; from facecast.engine.options import TrackingOptions; "
            f"frames = read_rgb_frames({str(talking_man_mp4)!r}, limit=8); landmarker = shared_landmarker(); "
            "landmarker.ready_to_follow(); options = TrackingOptions(smoothing=0.0); "
            "told = track_frames(frames, 8, options, mesh='direct', start_box=FaceBox(244.0, 279.0, 270.0)); "
            "print(told.coverage, 'mediapipe' in sys.modules); before = landmarker.cpu_s(); "
            "wrong = track_frames(frames, 8, options, mesh='direct', start_box=FaceBox(20.0, 20.0, 30.0)); "
            "print(wrong.coverage, 'mediapipe' in sys.modules, round(landmarker.cpu_s() - before, 3))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    told, wrong = (line.split() for line in done.stdout.strip().splitlines()[-2:])
    assert told == ["1.0", "False"], done.stdout
    assert wrong[:2] == ["1.0", "True"], done.stdout
    assert float(wrong[2]) < 0.3, done.stdout  # a detection and 8 meshes; loading mediapipe alone is about 0.6 s
