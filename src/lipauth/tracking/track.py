"""Lip localisation and tracking: :class:`LipTracker` (streaming) and :func:`track_lips`."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np

from lipauth.config import check_range
from lipauth.errors import InputError, NoFaceError, NoFramesError
from lipauth.tracking.base import FaceObservation, LandmarkBackend
from lipauth.tracking.geometry import normalise_lips
from lipauth.tracking.quality import mean_luma, sharpness
from lipauth.types import N_CONTOUR_POINTS, N_LIP_LANDMARKS, LipTrack, QualityFlag, Video

__all__ = ["TrackingConfig", "LipFrame", "LipTracker", "stack_contours", "track_lips"]

logger = logging.getLogger(__name__)

_OUTER = slice(0, 20)


@dataclass(frozen=True)
class TrackingConfig:
    """Quality thresholds and labial-box margin of the tracker (validated once).

    Attributes
    ----------
    min_face_width_px : float
        ``FACE_TOO_SMALL`` below this face-box width. 48 px: MIRACL-VC1 faces (60-75 px
        wide in 640x480) still give usable lips with MediaPipe; below ~48 px the lip
        contour is a few pixels tall.
    max_abs_yaw_deg, max_abs_pitch_deg : float
        ``EXTREME_POSE`` beyond these (30 and 25 degrees: beyond them FaceMesh's lip
        contour on the far side is guessed, and normalisation error exceeds ~5%).
    min_face_luma : float
        ``TOO_DARK`` when the mean BT.601 luma (0-255) of the face box is below this
        (40; measured face-box luma, minimum / median over sampled frames: GRID s1 141 / 146,
        MIRACL F01 72 / 77, studio talking heads 126 / 135).
    min_lip_sharpness : float
        ``BLURRED`` when the Laplacian variance of the labial crop (resized to 64 px wide,
        grey levels squared) is below this. 150, measured on frames with a face: GRID s1
        5th percentile 438 (median 580), MIRACL F01 617 (844), studio talking heads 5700
        (11700); the same GRID / MIRACL frames after a 9x9 box blur: at most 96 / 127.
    labial_margin : float
        Margin added on each side of the outer lip contour for the labial box, as a
        fraction of the mouth width (0.25).
    """

    min_face_width_px: float = 48.0
    max_abs_yaw_deg: float = 30.0
    max_abs_pitch_deg: float = 25.0
    min_face_luma: float = 40.0
    min_lip_sharpness: float = 150.0
    labial_margin: float = 0.25

    def __post_init__(self) -> None:
        check_range("TrackingConfig", "min_face_width_px", self.min_face_width_px, 0.0, 10000.0)
        check_range("TrackingConfig", "max_abs_yaw_deg", self.max_abs_yaw_deg, 0.0, 90.0)
        check_range("TrackingConfig", "max_abs_pitch_deg", self.max_abs_pitch_deg, 0.0, 90.0)
        check_range("TrackingConfig", "min_face_luma", self.min_face_luma, 0.0, 255.0)
        check_range("TrackingConfig", "min_lip_sharpness", self.min_lip_sharpness, 0.0, 1e6)
        check_range("TrackingConfig", "labial_margin", self.labial_margin, 0.0, 2.0)


@dataclass(frozen=True, eq=False)
class LipFrame:
    """Tracking result of one frame (one row of a :class:`~lipauth.types.LipTrack`).

    Attributes
    ----------
    t_s : float
        Frame time in seconds.
    detected : bool
    face_box, labial_box : np.ndarray [shape=(4,), dtype=float32]
        ``x0, y0, x1, y1`` px (NaN when not detected).
    landmarks_px : np.ndarray [shape=(40, 2), dtype=float32]
        Lip landmarks in pixels.
    landmarks_norm : np.ndarray [shape=(40, 2), dtype=float32]
        Face-normalised lip landmarks (see :class:`~lipauth.types.LipTrack`).
    pose : np.ndarray [shape=(3,), dtype=float32]
        ``yaw, pitch, roll`` degrees.
    quality : int
        :class:`~lipauth.types.QualityFlag` bits.
    n_faces : int
        Faces seen in the frame.
    contour_xyz : np.ndarray [shape=(35, 3), dtype=float32] or None
        Face contour and reference points (``lipauth.tracking.base.CONTOUR_POINT_NAMES``)
        in pixels; ``None`` when no face was detected or the backend gives no contour.
    """

    t_s: float
    detected: bool
    face_box: np.ndarray
    labial_box: np.ndarray
    landmarks_px: np.ndarray
    landmarks_norm: np.ndarray
    pose: np.ndarray
    quality: int
    n_faces: int
    contour_xyz: np.ndarray | None = None


def stack_contours(frames: Sequence[LipFrame]) -> np.ndarray | None:
    """The ``contour_xyz`` of a track's frames, for :attr:`lipauth.types.LipTrack.contour_xyz`.

    Parameters
    ----------
    frames : sequence of LipFrame

    Returns
    -------
    np.ndarray [shape=(n_frames, 35, 3), dtype=float32] or None
        NaN rows for frames without a contour; ``None`` when no frame has one (a backend
        without contour points).
    """
    if not any(f.contour_xyz is not None for f in frames):
        return None
    out = np.full((len(frames), N_CONTOUR_POINTS, 3), np.nan, dtype=np.float32)
    for i, f in enumerate(frames):
        if f.contour_xyz is not None:
            out[i] = f.contour_xyz
    return out


def _nan(shape: tuple[int, ...]) -> np.ndarray:
    a = np.full(shape, np.nan, dtype=np.float32)
    a.setflags(write=False)
    return a


_NAN_BOX = _nan((4,))
_NAN_LM = _nan((N_LIP_LANDMARKS, 2))
_NAN_POSE = _nan((3,))


def _primary(observations: list[FaceObservation], width: int, height: int) -> FaceObservation | None:
    """Largest and most central face with landmarks.

    Score = face width x (1 - 0.5 d), d = distance of the box centre from the frame
    centre divided by the half diagonal (so a face twice as wide wins unless it sits in a
    corner).
    """
    best, best_score = None, -math.inf
    cx0, cy0 = width / 2.0, height / 2.0
    half_diag = math.hypot(cx0, cy0)
    for obs in observations:
        if obs.lips_xyz is None:
            continue
        b = obs.face_box
        d = math.hypot((b[0] + b[2]) / 2.0 - cx0, (b[1] + b[3]) / 2.0 - cy0) / half_diag
        score = float(b[2] - b[0]) * (1.0 - 0.5 * min(d, 1.0))
        if score > best_score:
            best, best_score = obs, score
    return best


class LipTracker:
    """Streaming lip tracker: feed frames with :meth:`update`, collect :meth:`result`.

    Parameters
    ----------
    backend : LandmarkBackend, optional
        Landmark model; default a :class:`~lipauth.tracking.backends.mediapipe.MediaPipeBackend`
        (owned and closed by the tracker). A given backend is reset, never closed.
    config : TrackingConfig, optional
    source : str
        Name of the clip for error messages.

    Examples
    --------
    >>> tracker = LipTracker()                       # doctest: +SKIP
    >>> for t_s, frame in video.iter_frames():       # doctest: +SKIP
    ...     lip_frame = tracker.update(frame, t_s)
    >>> track = tracker.result()                     # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        backend: LandmarkBackend | None = None,
        config: TrackingConfig | None = None,
        source: str = "<stream>",
    ) -> None:
        if config is not None and not isinstance(config, TrackingConfig):
            raise InputError(f"config must be a TrackingConfig, got {type(config).__name__}; pass TrackingConfig(...)")
        if backend is not None and not isinstance(backend, LandmarkBackend):
            raise InputError(
                f"backend {type(backend).__name__} is not a LandmarkBackend "
                "(needs name, process(frame_rgb, *, t_s), reset(), close())"
            )
        self.config = config if config is not None else TrackingConfig()
        self._owns_backend = backend is None
        if backend is None:
            from lipauth.tracking.backends.mediapipe import MediaPipeBackend

            backend = MediaPipeBackend()
        self.backend: LandmarkBackend = backend
        self.source = source
        self._frames: list[LipFrame] = []
        self._size: tuple[int, int] | None = None
        self.backend.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop collected frames and the backend's tracking state (a new clip)."""
        self._frames = []
        self._size = None
        self.backend.reset()

    def close(self) -> None:
        """Close the backend if the tracker created it."""
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> LipTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def n_frames(self) -> int:
        return len(self._frames)

    # -- per frame ---------------------------------------------------------------------------

    def update(self, frame_rgb: np.ndarray, t_s: float) -> LipFrame:
        """Track one frame.

        Parameters
        ----------
        frame_rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
            RGB frame; every frame of a clip has the same size.
        t_s : float
            Presentation time in seconds, strictly increasing within a clip.

        Returns
        -------
        LipFrame
        """
        if not isinstance(frame_rgb, np.ndarray) or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            got = f"{frame_rgb.dtype} array of shape {frame_rgb.shape}" if isinstance(frame_rgb, np.ndarray) else type(frame_rgb).__name__
            raise InputError(f"{self.source}: frame must be an RGB uint8 array of shape (h, w, 3), got {got}")
        h, w = frame_rgb.shape[:2]
        if self._size is None:
            self._size = (w, h)
        elif self._size != (w, h):
            raise InputError(
                f"{self.source}: frame size changed from {self._size[0]}x{self._size[1]} to {w}x{h}; "
                "call reset() before a new clip"
            )
        t_s = float(t_s)
        if self._frames and not t_s > self._frames[-1].t_s:
            raise InputError(
                f"{self.source}: frame time {t_s!r} s is not after the previous {self._frames[-1].t_s!r} s; "
                "pass strictly increasing presentation times"
            )
        observations = self.backend.process(frame_rgb, t_s=t_s)
        lip_frame = self._analyse(frame_rgb, t_s, observations, w, h)
        self._frames.append(lip_frame)
        return lip_frame

    def _analyse(
        self, frame_rgb: np.ndarray, t_s: float, observations: list[FaceObservation], w: int, h: int
    ) -> LipFrame:
        cfg = self.config
        n_faces = len(observations)
        quality = int(QualityFlag.MULTIPLE_FACES) if n_faces > 1 else 0
        face = _primary(observations, w, h) if n_faces else None
        if face is None:
            return LipFrame(
                t_s, False, _NAN_BOX, _NAN_BOX, _NAN_LM, _NAN_LM, _NAN_POSE,
                quality | int(QualityFlag.NO_FACE), min(n_faces, 255),
            )  # fmt: skip
        lips = face.lips_xyz
        assert lips is not None  # _primary only returns faces with landmarks
        lm_px = np.ascontiguousarray(lips[:, :2], dtype=np.float32)
        has_depth = bool(np.isfinite(lips[0, 2]))
        fit = normalise_lips(lips, face.stable_xyz, has_depth=has_depth) if face.stable_xyz is not None else None
        if fit is None:
            lm_norm, pose = _NAN_LM, _NAN_POSE
        else:
            lm_norm = fit[0].astype(np.float32)
            pose = np.array(fit[1], dtype=np.float32)

        outer = lm_px[_OUTER]
        lo = outer.min(axis=0)
        hi = outer.max(axis=0)
        margin = cfg.labial_margin * float(hi[0] - lo[0])
        labial_box = np.array(
            [max(0.0, lo[0] - margin), max(0.0, lo[1] - margin), min(float(w), hi[0] + margin), min(float(h), hi[1] + margin)],
            dtype=np.float32,
        )
        face_box = np.asarray(face.face_box, dtype=np.float32)

        if face_box[2] - face_box[0] < cfg.min_face_width_px:
            quality |= QualityFlag.FACE_TOO_SMALL
        if abs(pose[0]) > cfg.max_abs_yaw_deg or abs(pose[1]) > cfg.max_abs_pitch_deg:
            quality |= QualityFlag.EXTREME_POSE
        if mean_luma(frame_rgb, face_box) < cfg.min_face_luma:
            quality |= QualityFlag.TOO_DARK
        if sharpness(frame_rgb, labial_box) < cfg.min_lip_sharpness:
            quality |= QualityFlag.BLURRED
        contour = None if face.contour_xyz is None else np.asarray(face.contour_xyz, dtype=np.float32)
        return LipFrame(
            t_s, True, face_box, labial_box, lm_px, lm_norm, pose, int(quality), min(n_faces, 255), contour
        )

    # -- whole clip -------------------------------------------------------------------------

    def result(self) -> LipTrack:
        """The :class:`~lipauth.types.LipTrack` of every frame given since the last reset.

        Raises
        ------
        NoFramesError
            No frame was given.
        NoFaceError
            No face in any frame.
        """
        frames = self._frames
        if not frames:
            raise NoFramesError(f"{self.source}: no frames were tracked; pass at least one frame to update()")
        detected = np.fromiter((f.detected for f in frames), dtype=bool, count=len(frames))
        if not detected.any():
            raise NoFaceError(
                f"{self.source}: no face found in any of its {len(frames)} frames; "
                "film the face frontally, well lit and at least ~60 px wide"
            )
        assert self._size is not None
        return LipTrack(
            timestamps_s=np.fromiter((f.t_s for f in frames), dtype=np.float64, count=len(frames)),
            detected=detected,
            face_box=np.stack([f.face_box for f in frames]),
            labial_box=np.stack([f.labial_box for f in frames]),
            landmarks_px=np.stack([f.landmarks_px for f in frames]),
            landmarks_norm=np.stack([f.landmarks_norm for f in frames]),
            pose=np.stack([f.pose for f in frames]),
            quality=np.fromiter((f.quality for f in frames), dtype=np.uint8, count=len(frames)),
            n_faces=np.fromiter((f.n_faces for f in frames), dtype=np.uint8, count=len(frames)),
            width=self._size[0],
            height=self._size[1],
            backend=self.backend.name,
            contour_xyz=stack_contours(frames),
        )


def track_lips(
    video: Video | str | PathLike[str] | bytes,
    *,
    backend: LandmarkBackend | None = None,
    config: TrackingConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LipTrack:
    """Track the lips of the primary face in every frame of a clip.

    Parameters
    ----------
    video : Video or path or bytes
        A decoded or lazy :class:`~lipauth.types.Video`; a path or bytes is opened with
        ``lipauth.io.load_video(src, lazy=True)``.
    backend : LandmarkBackend, optional
        Default: MediaPipe FaceMesh. A given backend is reset first and left open.
    config : TrackingConfig, optional
    progress : callable ``(done, total)``, optional
        Called after each frame with the frames done and the clip's frame count.

    Returns
    -------
    LipTrack
        Same result as feeding the frames one by one to :class:`LipTracker`.

    Raises
    ------
    NoFaceError
        No face in any frame of the clip.
    """
    if not isinstance(video, Video):
        from lipauth.io import load_video

        video = load_video(video, lazy=True)
    total = video.n_frames
    with LipTracker(backend=backend, config=config, source=video.source or "<video>") as tracker:
        update = tracker.update
        done = 0
        for t_s, frame in video.iter_frames():
            update(frame, t_s)
            done += 1
            if progress is not None:
                progress(done, total)
        track = tracker.result()
    logger.debug("%s: %d frames, %.1f%% with a face", video.source, track.n_frames, 100 * track.detection_rate)
    return track
