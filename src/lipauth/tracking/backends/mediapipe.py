"""MediaPipe FaceMesh landmark backend (478 points with refined lips, tracking mode).

Design (measured on 640x480, one core; see ``benchmarks/bench_tracking.py``): FaceMesh in
tracking mode with ``max_num_faces=1`` runs its face detector only until it has a face and
then follows it with the landmark model alone (~375 frames/s). With ``max_num_faces=2`` it
runs the detector on *every* frame while fewer faces than that are tracked (~215
frames/s). So the primary face is tracked by a one-face mesh, and the bundled short-range
face detector (``mediapipe.solutions.face_detection``, ~1.2 ms) runs on the first frame
and every ``detector_interval_frames`` frames to notice other faces. When it sees several,
the backend switches to a mesh with ``max_num_faces`` = that count (capped at
``max_faces``) so that every face has landmarks and the tracker can pick the largest, most
central one; when it sees one again, it switches back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from lipauth.errors import BackendUnavailableError
from lipauth.tracking.base import FaceObservation

__all__ = ["MediaPipeBackend", "FACEMESH_CONTOUR_INDICES", "FACEMESH_LIP_INDICES", "FACEMESH_STABLE_INDICES"]

logger = logging.getLogger(__name__)

#: FaceMesh indices of the 40 lip landmarks in :data:`lipauth.types.LIP_GROUPS` order
FACEMESH_LIP_INDICES: tuple[int, ...] = (
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,  # outer upper, image left to right
    375, 321, 405, 314, 17, 84, 181, 91, 146,  # outer lower, right to left
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,  # inner upper, left to right
    324, 318, 402, 317, 14, 87, 178, 88, 95,  # inner lower, right to left
)  # fmt: skip
#: FaceMesh indices of :data:`lipauth.tracking.base.STABLE_POINT_NAMES`
FACEMESH_STABLE_INDICES: tuple[int, ...] = (33, 133, 362, 263, 168, 6, 1, 98, 327, 234, 454, 10, 151)
#: face oval (for the face box)
FACEMESH_OVAL_INDICES: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
#: FaceMesh indices of :data:`lipauth.tracking.base.CONTOUR_POINT_NAMES` (the 25 contour
#: points are all on the face oval; the 10 reference points are the stable eye corners,
#: nose bridge and forehead points plus 9 and 8 between the brows)
FACEMESH_CONTOUR_INDICES: tuple[int, ...] = (
    152,  # chin
    148, 176, 149, 150, 136, 172, 58, 132,  # subject's right jaw line, chin to ear
    377, 400, 378, 379, 365, 397, 288, 361,  # subject's left jaw line, chin to ear
    162, 127, 234, 93,  # subject's right face side, top to bottom
    389, 356, 454, 323,  # subject's left face side, top to bottom
    33, 133, 362, 263, 6, 168, 10, 151, 9, 8,  # reference: eye corners, bridge, forehead, glabella, root
)  # fmt: skip

_ALL_INDICES = FACEMESH_LIP_INDICES + FACEMESH_STABLE_INDICES + FACEMESH_OVAL_INDICES + FACEMESH_CONTOUR_INDICES
_N_LIP = len(FACEMESH_LIP_INDICES)
_N_STABLE = len(FACEMESH_STABLE_INDICES)
_N_OVAL = len(FACEMESH_OVAL_INDICES)
_CONTOUR_START = _N_LIP + _N_STABLE + _N_OVAL
_N_LANDMARKS = 478  # with refine_landmarks=True

# A NormalizedLandmark with only x, y, z set serialises (proto2) to 17 bytes:
# 0x0a 0x0f | 0x0d x:f32 | 0x15 y:f32 | 0x1d z:f32. Reading the serialised list with one
# numpy view is ~4x faster than 87 Python attribute reads per face.
_REC = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [3, 8, 13], "itemsize": 17})
_HDR_COLS = np.array([0, 1, 2, 7, 12])
_HDR = np.array([0x0A, 0x0F, 0x0D, 0x15, 0x1D], dtype=np.uint8)
_IDX = np.array(_ALL_INDICES)


def _landmarks_xyz(face: Any) -> np.ndarray:
    """x, y, z of the landmarks in ``_ALL_INDICES`` order [shape=(n, 3), float32, normalised]."""
    buf = face.SerializeToString()
    if len(buf) == 17 * len(face.landmark):
        raw = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 17)
        if (raw[:, _HDR_COLS] == _HDR).all():
            rec = np.frombuffer(buf, dtype=_REC)[_IDX]
            return np.stack([rec["x"], rec["y"], rec["z"]], axis=1)
    # other fields set (e.g. visibility): read attribute by attribute, same values
    lm = face.landmark
    return np.array([(p.x, p.y, p.z) for p in map(lm.__getitem__, _ALL_INDICES)], dtype=np.float32)


INSTALL_HINT = "pip install --no-deps mediapipe==0.10.21"


def _libc_fflush() -> None:
    import ctypes

    ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Route what native code writes to file descriptor 2 into ``logging`` (DEBUG).

    MediaPipe's C++ (absl, TFLite) prints INFO/WARNING lines straight to fd 2 when a graph
    starts and runs its first frame, whatever ``GLOG_minloglevel`` says. Only those calls
    are wrapped (never the per-frame path); other threads' stderr output during that
    moment is logged too, not lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            _libc_fflush()  # C stdio buffers still hold lines meant for the redirected fd
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    logger.debug("mediapipe: %s", line)



def _settle(solution: Any) -> None:
    """Wait until a just started MediaPipe graph has opened its calculators.

    The graph opens them on its own threads after the constructor returns, and TFLite's
    inference calculator prints a warning as it opens: waiting keeps that line inside
    :func:`native_stderr_to_log` instead of landing on fd 2 a moment later.
    """
    graph = getattr(solution, "_graph", None)
    if graph is not None:
        graph.wait_until_idle()


def _import_mediapipe() -> Any:
    os.environ.setdefault("GLOG_minloglevel", "2")  # C++ glog: warnings and info off
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from mediapipe.python.solutions import face_detection, face_mesh
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the MediaPipe landmark backend needs the mediapipe package ({exc}); "
            f"install it with `{INSTALL_HINT}`"
        ) from None
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl is a mediapipe dependency; without it there is nothing to quiet
        logger.debug("absl not importable; MediaPipe log level left unchanged")
    return face_mesh, face_detection


class MediaPipeBackend:
    """FaceMesh (refined lips, tracking mode) plus a periodic face detector.

    Parameters
    ----------
    max_faces : int
        Most faces given landmarks when several are present (1-8).
    detector_interval_frames : int
        Run the face detector on the first frame of a clip and then every this many
        frames to notice other faces (0 = never: only the primary face is seen).
    min_detection_confidence, min_tracking_confidence : float
        FaceMesh thresholds in (0, 1); the first is also the face detector's.
    """

    name = "mediapipe-facemesh"

    def __init__(
        self,
        *,
        max_faces: int = 4,
        detector_interval_frames: int = 30,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        from lipauth.config import check_range

        check_range("MediaPipeBackend", "max_faces", max_faces, 1, 8)
        check_range("MediaPipeBackend", "detector_interval_frames", detector_interval_frames, 0, 100000)
        check_range("MediaPipeBackend", "min_detection_confidence", min_detection_confidence, 0.01, 0.99)
        check_range("MediaPipeBackend", "min_tracking_confidence", min_tracking_confidence, 0.01, 0.99)
        self.max_faces = int(max_faces)
        self.detector_interval_frames = int(detector_interval_frames)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self._face_mesh_mod, self._face_detection_mod = _import_mediapipe()
        self._meshes: dict[int, Any] = {}
        self._detector: Any = None
        self._n_mesh_faces = 1
        self._frame_index = 0
        self._extra_boxes: list[np.ndarray] = []
        self._fresh: set[int] = set()  # meshes whose next frame is their first (noisy) one
        self._stale: set[int] = set()  # meshes to restart before their next frame

    # -- resources -----------------------------------------------------------------------

    def _mesh(self, n_faces: int) -> Any:
        mesh = self._meshes.get(n_faces)
        if mesh is None:
            with native_stderr_to_log():
                mesh = self._face_mesh_mod.FaceMesh(
                    static_image_mode=False,
                    max_num_faces=n_faces,
                    refine_landmarks=True,
                    min_detection_confidence=self.min_detection_confidence,
                    min_tracking_confidence=self.min_tracking_confidence,
                )
                _settle(mesh)
            self._meshes[n_faces] = mesh
            self._fresh.add(n_faces)
        return mesh

    def reset(self) -> None:
        """Start a new clip: drop tracking state (graphs are restarted, not rebuilt)."""
        # restarted lazily, on their next frame: a graph restart logs from its worker
        # threads after reset() returns, so restart and first frame are quieted together
        self._stale = set(self._meshes)
        self._fresh = set(self._meshes)
        self._n_mesh_faces = 1
        self._frame_index = 0
        self._extra_boxes = []

    def close(self) -> None:
        for mesh in self._meshes.values():
            mesh.close()
        self._meshes.clear()
        self._fresh.clear()
        self._stale.clear()
        self.reset()
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    # -- per frame -------------------------------------------------------------------------

    def _detect_boxes(self, frame_rgb: np.ndarray) -> list[np.ndarray]:
        h, w = frame_rgb.shape[:2]
        if self._detector is None:
            with native_stderr_to_log():
                self._detector = self._face_detection_mod.FaceDetection(
                    model_selection=0, min_detection_confidence=self.min_detection_confidence
                )
                _settle(self._detector)
                res = self._detector.process(frame_rgb)
        else:
            res = self._detector.process(frame_rgb)
        boxes = []
        for det in res.detections or ():
            rb = det.location_data.relative_bounding_box
            boxes.append(
                np.array(
                    [rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h],
                    dtype=np.float32,
                )
            )
        return boxes

    def process(self, frame_rgb: np.ndarray, *, t_s: float) -> list[FaceObservation]:
        """Faces in one RGB frame (see :class:`~lipauth.tracking.base.LandmarkBackend`).

        Faces the detector saw at its last run but the mesh does not track come back as
        observations without landmarks (only while the mesh tracks at least one face).
        """
        # MediaPipe needs C-contiguous uint8 pixels (a broadcast still frame or a crop is not)
        frame_rgb = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
        if self.detector_interval_frames and self._frame_index % self.detector_interval_frames == 0:
            boxes = self._detect_boxes(frame_rgb)
            n_mesh = min(max(len(boxes), 1), self.max_faces)
            if n_mesh != self._n_mesh_faces:
                logger.debug("t=%.3fs: %d faces detected; mesh tracks %d", t_s, len(boxes), n_mesh)
                self._n_mesh_faces = n_mesh
            self._extra_boxes = boxes
        self._frame_index += 1

        mesh = self._mesh(self._n_mesh_faces)
        if self._n_mesh_faces in self._fresh:
            self._fresh.discard(self._n_mesh_faces)
            with native_stderr_to_log():
                if self._n_mesh_faces in self._stale:
                    self._stale.discard(self._n_mesh_faces)
                    mesh.reset()
                    _settle(mesh)
                res = mesh.process(frame_rgb)
            if not res.multi_face_landmarks:
                # the graph also logs when it first projects landmarks: stay quiet until then
                self._fresh.add(self._n_mesh_faces)
        else:
            res = mesh.process(frame_rgb)
        faces = res.multi_face_landmarks
        if not faces:
            return []
        h, w = frame_rgb.shape[:2]
        scale = np.array([w, h, w], dtype=np.float32)
        out = []
        for face in faces:
            pts = _landmarks_xyz(face)
            pts *= scale
            oval = pts[_N_LIP + _N_STABLE : _CONTOUR_START]
            box = np.concatenate([oval[:, :2].min(axis=0), oval[:, :2].max(axis=0)])
            out.append(
                FaceObservation(
                    face_box=box,
                    lips_xyz=pts[:_N_LIP],
                    stable_xyz=pts[_N_LIP : _N_LIP + _N_STABLE],
                    confidence=1.0,
                    contour_xyz=pts[_CONTOUR_START:],
                )
            )
        for box in self._extra_boxes:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if not any(o.face_box[0] <= cx <= o.face_box[2] and o.face_box[1] <= cy <= o.face_box[3] for o in out):
                out.append(FaceObservation(face_box=box))
        return out
