"""Deep per-frame lip descriptors from the face-mesh network that ships inside mediapipe.

MediaPipe 0.10.21 installs ``face_landmark_with_attention.tflite``, the attention face-mesh
model (a CNN trained by Google on many faces to place 468 face points and refine the lips,
eyes and irises). Its internal feature maps around the lips describe the mouth far better
than hand-made features do at the 60-px faces of MIRACL-VC1: nothing is trained here, the
network is used as it ships, through the plain TFLite interpreter of ``ai-edge-litert``.

Per frame (:class:`DeepLipEncoder`):

1. the face is cut as MediaPipe's own face-landmark graph does: a square 1.5x the tracked face
   box, turned upright by the head roll (``LipTrack.pose[:, 2]``), 192 x 192 RGB in [0, 1];
2. the main network runs to its mesh output; the mesh's 80 lip points give the lip box
   MediaPipe uses for its lip-refinement branch (rotated by the mouth corners, 1.5x the lips'
   extent, a 16 x 16 grid on the 48 x 48 feature maps);
3. **deep_early**: the early feature map ``p_re_lu_5`` (48 x 48 x 32) sampled on that grid
   (16 x 16 x 32 = 8192 numbers); **deep_lips**: the lip branch run on the same grid of
   ``p_re_lu_3`` to its map ``p_re_lu_24`` (8 x 8 x 64 = 4096 numbers).

The model's graph contains three MediaPipe-only operations (the lip and eye crops and the
landmark transform); the graph is cut around them at load time (two plain TFLite graphs,
~0.25 s once per process) and the lip crop is done here in numpy, as MediaPipe's
``TransformTensorBilinear`` does. Checked on the 720 frames of MIRACL-VC1 F01: the cut
model's mesh is within 0.43 px (face) / 0.20 px (lips) of mediapipe's own FaceMesh output.
Cost on this project's 2-core machine: ~3 ms per frame (1 thread).

Measured for the lip commands (MIRACL-VC1 F01, 3 / 5 enrolment takes, 1-NN, channels fused
by separate DTWs, weights chosen on split seeds 1 / 11, reported on 21 / 31 / 41): the
shipped three channels 95.90 / 98.29 %; with the two deep channels added (weight 15 each)
97.86 / 98.89 %; ``deep_early`` alone 97.43 / 98.48 %. The face mesh's 80 lip output points,
its penultimate layer and globally pooled maps were weaker (83-94 % alone).
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import BackendUnavailableError, InputError
from lipauth.features.appearance import _check_track
from lipauth.types import LipTrack, Video

__all__ = ["DEEP_CHANNELS", "DEEP_WIDTHS", "DeepLipEncoder", "deep_lip_frames", "face_model_path"]

#: the two deep channels, in the column order of ``features.sequence.utterance_sequence``
DEEP_CHANNELS: tuple[str, str] = ("deep_early", "deep_lips")
#: their widths (numbers per frame)
DEEP_WIDTHS: dict[str, int] = {"deep_early": 16 * 16 * 32, "deep_lips": 8 * 8 * 64}

_INPUT_PX = 192  # the model's face crop
_MAP_PX = 48  # the feature maps p_re_lu_3 / p_re_lu_5
_GRID_PX = 16  # MediaPipe's lip crop on the maps
_FACE_SCALE = 1.5  # face crop side / face box side (MediaPipe's face-landmark ROI)
_LIP_SCALE = 1.5  # lip crop side / lips' extent (Landmarks2TransformMatrix)
#: the 80 FaceMesh points of MediaPipe's lip subset (the order does not matter: only their box)
_LIP_POINTS = np.array(
    [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409, 78, 95,
     88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415, 76, 77, 90, 180,
     85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408, 62, 96, 89, 179, 86, 15,
     316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407]
)  # fmt: skip
_LEFT_CORNER, _RIGHT_CORNER = 61, 291


def face_model_path() -> Path:
    """Path of ``face_landmark_with_attention.tflite`` inside the installed mediapipe package.

    Raises
    ------
    BackendUnavailableError
        mediapipe is not installed or ships no such model (releases after 0.10.21).
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise BackendUnavailableError("mediapipe is not installed; install lipauth with make (mediapipe==0.10.21 ships the face-mesh model)")
    path = Path(spec.origin).parent / "modules" / "face_landmark" / "face_landmark_with_attention.tflite"
    if not path.is_file():
        raise BackendUnavailableError(f"{path} not found; mediapipe==0.10.21 ships it (newer releases ship no face-mesh model)")
    return path


@functools.lru_cache(maxsize=2)
def _interpreters(path: str) -> tuple[Any, Any]:
    """The model cut into two plain-TFLite graphs: the main network, and the lip branch."""
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - a dependency of the default install
        raise BackendUnavailableError(f"the TFLite interpreter is missing ({exc}); pip install ai-edge-litert==2.3.0") from exc
    raw = Path(path).read_bytes()

    def cut(inputs: list[str], outputs: list[str]) -> Any:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(raw, 0))
        graph = model.subgraphs[0]
        index = {t.name.decode(): i for i, t in enumerate(graph.tensors)}
        try:
            ins, outs = [index[n] for n in inputs], [index[n] for n in outputs]
        except KeyError as exc:
            raise BackendUnavailableError(f"{path} has no tensor {exc}; use the model of mediapipe==0.10.21") from exc
        producer = {t: k for k, op in enumerate(graph.operators) for t in op.outputs}
        needed: set[int] = set()
        stack = list(outs)
        while stack:
            t = stack.pop()
            if t in ins or t not in producer or producer[t] in needed:
                continue
            needed.add(producer[t])
            stack += [x for x in graph.operators[producer[t]].inputs if x >= 0]
        graph.operators = [op for k, op in enumerate(graph.operators) if k in needed]
        graph.inputs, graph.outputs = np.array(ins, np.int32), np.array(outs, np.int32)
        builder = flatbuffers.Builder(0)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        interpreter = Interpreter(model_content=bytes(builder.Output()), num_threads=1)
        interpreter.allocate_tensors()
        return interpreter

    from lipauth.tracking.backends.mediapipe import native_stderr_to_log

    # the TFLite runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate" to fd 2
    with native_stderr_to_log():
        return (
            cut(["input_1"], ["output_mesh", "p_re_lu_3", "p_re_lu_5"]),
            cut(["transform_tensor_bilinear_v2"], ["p_re_lu_24"]),
        )


def _run(interpreter: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.ascontiguousarray(x, np.float32)[None])
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()}


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``img`` (h, w, c) at float pixel coordinates (centres at integers), edges clamped."""
    h, w = img.shape[:2]
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].astype(np.float64)

    top = (1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)
    bottom = (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)
    return (1 - fy) * top + fy * bottom


_GRID_Y, _GRID_X = np.mgrid[0:_GRID_PX, 0:_GRID_PX].astype(np.float64) + 0.5 - _GRID_PX / 2


class DeepLipEncoder:
    """Per-frame deep lip descriptors (module docstring): one call per frame.

    Parameters
    ----------
    model_path : str or Path, optional
        Default :func:`face_model_path` (the model inside mediapipe 0.10.21).

    Examples
    --------
    >>> enc = DeepLipEncoder()
    >>> early, lips = enc.encode(frame_rgb, track.face_box[i], float(track.pose[i, 2]))
    """

    def __init__(self, *, model_path: str | Path | None = None) -> None:
        self.model_path = Path(model_path) if model_path is not None else face_model_path()
        self._trunk, self._lips = _interpreters(str(self.model_path))

    def face_crop(self, frame: np.ndarray, face_box: np.ndarray, roll_deg: float) -> np.ndarray:
        """The model's input: 192 x 192 RGB in [0, 1], upright, 1.5x the face box (float32)."""
        import cv2

        x0, y0, x1, y1 = (float(v) for v in face_box)
        side = _FACE_SCALE * max(x1 - x0, y1 - y0)
        a = math.radians(roll_deg)
        k = side / _INPUT_PX
        c, s = k * math.cos(a), k * math.sin(a)
        u0 = 0.5 - _INPUT_PX / 2  # crop pixel centre u + 0.5, relative to the crop centre
        cx, cy = 0.5 * (x0 + x1) - 0.5, 0.5 * (y0 + y1) - 0.5
        m = np.array([[c, -s, cx + (c - s) * u0], [s, c, cy + (s + c) * u0]])
        crop = cv2.warpAffine(
            frame, m, (_INPUT_PX, _INPUT_PX), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        return crop.astype(np.float32) / 255.0

    def encode(self, frame: np.ndarray, face_box: np.ndarray, roll_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """``(deep_early (8192,), deep_lips (4096,))`` float32 of one RGB frame.

        Parameters
        ----------
        frame : np.ndarray [shape=(height, width, 3), dtype=uint8]
        face_box : np.ndarray [shape=(4,)]
            ``x0, y0, x1, y1`` of the face in pixels (``LipTrack.face_box``).
        roll_deg : float
            Head roll in degrees (``LipTrack.pose[:, 2]``).
        """
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"frame has shape {getattr(frame, 'shape', type(frame).__name__)}; pass an RGB uint8 frame")
        box = np.asarray(face_box, dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            raise InputError(f"face_box {box.tolist()} is not a box; pass the tracked face box x0, y0, x1, y1 of a detected frame")
        if not math.isfinite(roll_deg):
            raise InputError("roll_deg is not finite; pass the tracked head roll of a detected frame")
        out = _run(self._trunk, self.face_crop(frame, box, float(roll_deg)))
        # MediaPipe's lip box (Landmarks2TransformMatrix) from the mesh, in 48 x 48 map units
        mesh = out["output_mesh"].reshape(-1, 3)[:, :2].astype(np.float64) * (_MAP_PX / _INPUT_PX)
        left, right = mesh[_LEFT_CORNER], mesh[_RIGHT_CORNER]
        rot = -math.atan2(right[1] - left[1], right[0] - left[0])
        r = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
        q = mesh[_LIP_POINTS] @ r.T
        hi, lo = q.max(axis=0), q.min(axis=0)
        centre = r.T @ ((hi + lo) / 2)
        scale = r.T @ np.diag(_LIP_SCALE * (hi - lo) / _GRID_PX)
        pts = np.stack([_GRID_X, _GRID_Y], axis=-1) @ scale.T + centre - 0.5
        px, py = pts[..., 0], pts[..., 1]
        inside = ((px >= 0) & (px <= _MAP_PX - 1) & (py >= 0) & (py <= _MAP_PX - 1))[..., None]

        def sample(fmap: np.ndarray) -> np.ndarray:  # TransformTensorBilinear: zero outside the map
            padded = np.pad(fmap.astype(np.float64), ((0, 1), (0, 1), (0, 0)))
            return _bilinear(padded, px, py) * inside

        early = sample(out["p_re_lu_5"]).astype(np.float32).ravel()
        lips = _run(self._lips, sample(out["p_re_lu_3"]))["p_re_lu_24"].astype(np.float32).ravel()
        return early, lips


def deep_lip_frames(
    video: Video, track: LipTrack, *, frames: np.ndarray | None = None, encoder: DeepLipEncoder | None = None
) -> dict[str, np.ndarray]:
    """Deep lip descriptors of a clip's frames (not yet normalised).

    Parameters
    ----------
    video : Video
        The clip (eager or lazy; decoded once, in order).
    track : LipTrack
        Its lip track (same frame count).
    frames : np.ndarray [shape=(n_selected,), dtype=int], optional
        Frames to encode; default every frame with a face. Other rows stay 0.
    encoder : DeepLipEncoder, optional

    Returns
    -------
    dict of str to np.ndarray [shape=(n_frames, width), dtype=float32]
        :data:`DEEP_CHANNELS` -> one row per frame of the clip (:data:`DEEP_WIDTHS`).

    Raises
    ------
    InputError
        Frame counts that differ, or a selected frame without a face.
    """
    _check_track(video, track)
    n = track.n_frames
    idx = np.flatnonzero(track.detected) if frames is None else np.asarray(frames, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"frames index 0..{n - 1}; got {idx.min()}..{idx.max()}")
    if idx.size and not track.detected[idx].all():
        bad = int(idx[~track.detected[idx]][0])
        raise InputError(f"frame {bad} has no face; encode only frames with a tracked face (track.detected)")
    enc = encoder or DeepLipEncoder()
    out = {name: np.zeros((n, DEEP_WIDTHS[name]), dtype=np.float32) for name in DEEP_CHANNELS}
    wanted = set(idx.tolist())
    for i, (_, frame) in enumerate(video.iter_frames()):
        if i in wanted:
            early, lips = enc.encode(frame, track.face_box[i], float(track.pose[i, 2]))
            out["deep_early"][i], out["deep_lips"][i] = early, lips
    return out
