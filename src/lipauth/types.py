"""Frozen result types shared across stages (io -> tracking -> features -> checks).

Arrays document shape, dtype and units. Every type has ``to_dict()`` (JSON-ready:
arrays become nested lists, NaN becomes ``None``) and ``from_dict()`` (the inverse).

Time convention: ``t = 0`` is the presentation time of the first video frame. Audio
carries ``start_s``, the time of its first sample on that same axis, so audio and video
are aligned by their stream start times, never by sample or frame counts.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

__all__ = [
    "Video",
    "Audio",
    "LipTrack",
    "QualityFlag",
    "LIP_GROUPS",
    "N_LIP_LANDMARKS",
    "N_CONTOUR_POINTS",
    "LipFeatures",
    "CheckResult",
    "ChallengeResult",
    "AudioFeatures",
]


# --------------------------------------------------------------------------------------
# to_dict / from_dict for dataclasses holding numpy arrays


def _array_field(dtype: str, doc: str) -> Any:
    return field(metadata={"dtype": dtype, "doc": doc})


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            obj = value.astype(object)
            obj[~np.isfinite(value)] = None
            return obj.tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (tuple, list)):  # a list too: e.g. blow's mouth_timing delays (NaN for an unanswered window)
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


def _from_jsonable(value: Any, dtype: str) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        arr = np.array(value, dtype=object)
        arr[arr == None] = np.nan  # noqa: E711 (elementwise comparison)
        return arr.astype(dtype)
    return np.asarray(value, dtype=dtype)


class _DictMixin:
    """``to_dict``/``from_dict`` for frozen dataclasses; private fields are skipped."""

    _DICT_VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type(self).__name__, "version": self._DICT_VERSION}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name.startswith("_"):
                continue
            out[f.name] = _to_jsonable(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name.startswith("_") or f.name not in data:
                continue
            value = data[f.name]
            if "dtype" in f.metadata and value is not None:
                value = _from_jsonable(value, f.metadata["dtype"])
            elif isinstance(value, list):
                value = tuple(value)
            elif value is None and f.type in ("float",):
                value = float("nan")
            kwargs[f.name] = value
        return cls(**kwargs)


# --------------------------------------------------------------------------------------
# io


@dataclass(frozen=True, eq=False)
class Video(_DictMixin):
    """A decoded (or lazily decodable) video stream.

    Attributes
    ----------
    frames : np.ndarray [shape=(n_frames, height, width, 3), dtype=uint8] or None
        RGB frames; ``None`` when loaded lazily (use :meth:`iter_frames`).
    timestamps_s : np.ndarray [shape=(n_frames,), dtype=float64]
        Presentation time of each frame in seconds, ``0`` = first frame; strictly
        increasing. Variable frame rate shows here, never in frame counts.
    width, height : int
        Frame size in pixels (after applying the stream's rotation, if any).
    nominal_fps : float
        Frame rate the container declares (``nan`` if it declares none).
    measured_fps : float
        ``(n_frames - 1) / (t_last - t_first)`` from the timestamps.
    codec : str
        FFmpeg codec name of the video stream, e.g. ``"h264"``, ``"vp8"``.
    source : str
        Path, or ``"<bytes>"`` for in-memory input (for messages).
    start_time_s : float
        Start time of the video stream in the container's clock (seconds); audio is
        aligned against it.
    """

    frames: np.ndarray | None = _array_field("uint8", "(n, h, w, 3) RGB")
    timestamps_s: np.ndarray = _array_field("float64", "(n,) seconds")
    width: int = 0
    height: int = 0
    nominal_fps: float = float("nan")
    measured_fps: float = float("nan")
    codec: str = ""
    source: str = ""
    start_time_s: float = 0.0
    #: decoder used by :meth:`iter_frames` when ``frames`` is None (set by lipauth.io)
    _frame_iter: Callable[[], Iterator[tuple[float, np.ndarray]]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def n_frames(self) -> int:
        return int(self.timestamps_s.shape[0])

    @property
    def duration_s(self) -> float:
        """Time from the first frame to the end of the last one."""
        if self.n_frames == 0:
            return 0.0
        frame_s = 1.0 / self.measured_fps if self.measured_fps > 0 else 0.0
        return float(self.timestamps_s[-1] - self.timestamps_s[0] + frame_s)

    @property
    def is_lazy(self) -> bool:
        return self.frames is None

    def iter_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(t_s, frame)`` pairs in presentation order, decoding if lazy."""
        if self.frames is not None:
            for t, frame in zip(self.timestamps_s, self.frames):
                yield float(t), frame
        elif self._frame_iter is not None:
            yield from self._frame_iter()
        else:
            raise RuntimeError("Video has neither frames nor a decoder")

    def to_dict(self, *, include_frames: bool = False) -> dict[str, Any]:
        out = super().to_dict()
        out["n_frames"] = self.n_frames
        out["duration_s"] = self.duration_s
        if not include_frames:
            out.pop("frames", None)
        return out


@dataclass(frozen=True, eq=False)
class Audio(_DictMixin):
    """Mono audio resampled to ``sample_rate`` and placed on the video's time axis.

    Attributes
    ----------
    samples : np.ndarray [shape=(n_samples,), dtype=float32]
        Mono samples in [-1, 1].
    sample_rate : int
        Samples per second (16000 by default).
    start_s : float
        Time of the first sample relative to the first video frame, in seconds
        (positive: audio starts after the video; 0 for an audio-only file).
    codec : str
        FFmpeg codec name of the source audio stream.
    source : str
        Path or ``"<bytes>"``.
    """

    samples: np.ndarray = _array_field("float32", "(n,) mono in [-1, 1]")
    sample_rate: int = 16000
    start_s: float = 0.0
    codec: str = ""
    source: str = ""

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.sample_rate)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def times_s(self) -> np.ndarray:
        """Time of each sample on the video axis [shape=(n_samples,), float64]."""
        return self.start_s + np.arange(self.n_samples, dtype=np.float64) / self.sample_rate

    def to_dict(self, *, include_samples: bool = False) -> dict[str, Any]:
        out = super().to_dict()
        out["duration_s"] = self.duration_s
        if not include_samples:
            out.pop("samples", None)
        return out


# --------------------------------------------------------------------------------------
# tracking

#: number of lip landmarks in every LipTrack
N_LIP_LANDMARKS = 40
#: number of face contour points in ``LipTrack.contour_xyz`` (25 contour + 10 reference)
N_CONTOUR_POINTS = 35

#: Named groups of the 40 lip landmarks (indices into axis 1 of ``landmarks_*``).
#: Order of the 40: 0-10 outer upper lip from the image-left corner to the
#: image-right corner; 11-19 outer lower lip from right to left (corners excluded);
#: 20-30 inner upper lip left to right; 31-39 inner lower lip right to left.
#: Groups that run along a lip are ordered image-left to image-right.
LIP_GROUPS: dict[str, tuple[int, ...]] = {
    "outer": tuple(range(0, 20)),
    "inner": tuple(range(20, 40)),
    "outer_upper": tuple(range(0, 11)),
    "outer_lower": (0, *range(19, 10, -1), 10),
    "inner_upper": tuple(range(20, 31)),
    "inner_lower": (20, *range(39, 30, -1), 30),
    "corners": (0, 10),
    "inner_corners": (20, 30),
    "outer_upper_mid": (5,),
    "outer_lower_mid": (15,),
    "inner_upper_mid": (25,),
    "inner_lower_mid": (35,),
}


class QualityFlag(enum.IntFlag):
    """Per-frame quality flags (bit mask in ``LipTrack.quality``)."""

    OK = 0
    FACE_TOO_SMALL = 1
    EXTREME_POSE = 2
    TOO_DARK = 4
    BLURRED = 8
    MULTIPLE_FACES = 16
    NO_FACE = 32


@dataclass(frozen=True, eq=False)
class LipTrack(_DictMixin):
    """Per-frame lip tracking of one (the primary) face.

    Frames where no face was found are gaps: ``detected`` is False, float arrays hold
    NaN there, ``quality`` has ``NO_FACE``.

    Attributes
    ----------
    timestamps_s : np.ndarray [shape=(n_frames,), dtype=float64]
        Frame times in seconds (the video's ``timestamps_s``).
    detected : np.ndarray [shape=(n_frames,), dtype=bool]
    face_box : np.ndarray [shape=(n_frames, 4), dtype=float32]
        ``x0, y0, x1, y1`` of the face in pixels.
    labial_box : np.ndarray [shape=(n_frames, 4), dtype=float32]
        ``x0, y0, x1, y1`` of the lip region in pixels (outer lip contour plus margin).
    landmarks_px : np.ndarray [shape=(n_frames, 40, 2), dtype=float32]
        The 40 lip landmarks (order in :data:`LIP_GROUPS`) in image pixels.
    landmarks_norm : np.ndarray [shape=(n_frames, 40, 2), dtype=float32]
        The same landmarks with head pose, position and scale removed by a rigid fit
        of stable face points to a canonical face: frontal view, origin at the
        canonical mouth centre, x to the image right, y down, unit = the distance
        between the outer eye corners.
    pose : np.ndarray [shape=(n_frames, 3), dtype=float32]
        Head ``yaw, pitch, roll`` in degrees (0 = frontal, upright).
    quality : np.ndarray [shape=(n_frames,), dtype=uint8]
        :class:`QualityFlag` bit mask.
    n_faces : np.ndarray [shape=(n_frames,), dtype=uint8]
        Faces seen in the frame (the primary one is tracked).
    width, height : int
        Frame size in pixels.
    backend : str
        Name of the landmark backend.
    contour_xyz : np.ndarray [shape=(n_frames, 35, 3), dtype=float32] or None
        Lower face contour and its upper-face reference points per frame
        (``lipauth.tracking.base.CONTOUR_POINT_NAMES`` order): x, y in image pixels, z a
        depth in pixels; NaN rows in frames without a face. ``None`` when the backend
        gives no contour (and in tracks saved before it existed).
    """

    timestamps_s: np.ndarray = _array_field("float64", "(n,) seconds")
    detected: np.ndarray = _array_field("bool", "(n,)")
    face_box: np.ndarray = _array_field("float32", "(n, 4) px x0 y0 x1 y1")
    labial_box: np.ndarray = _array_field("float32", "(n, 4) px x0 y0 x1 y1")
    landmarks_px: np.ndarray = _array_field("float32", "(n, 40, 2) px")
    landmarks_norm: np.ndarray = _array_field("float32", "(n, 40, 2) face units")
    pose: np.ndarray = _array_field("float32", "(n, 3) degrees yaw pitch roll")
    quality: np.ndarray = _array_field("uint8", "(n,) QualityFlag bits")
    n_faces: np.ndarray = _array_field("uint8", "(n,)")
    width: int = 0
    height: int = 0
    backend: str = ""
    contour_xyz: np.ndarray | None = field(
        default=None, metadata={"dtype": "float32", "doc": "(n, 35, 3) px, or None"}
    )

    @property
    def n_frames(self) -> int:
        return int(self.timestamps_s.shape[0])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        obj = super().from_dict(data)
        contour = obj.contour_xyz
        if contour is not None and contour.size == 0:  # a 0-frame track serialises to []
            return dataclasses.replace(obj, contour_xyz=contour.reshape(0, N_CONTOUR_POINTS, 3))
        return obj

    @property
    def detection_rate(self) -> float:
        """Fraction of frames with a detected face (0 for an empty track)."""
        return float(self.detected.mean()) if self.n_frames else 0.0

    def group(self, name: str, *, normalised: bool = True) -> np.ndarray:
        """Landmarks of a named group [shape=(n_frames, len(group), 2)]."""
        try:
            idx = LIP_GROUPS[name]
        except KeyError:
            raise KeyError(f"unknown lip landmark group {name!r}; known: {sorted(LIP_GROUPS)}") from None
        lm = self.landmarks_norm if normalised else self.landmarks_px
        out: np.ndarray = lm[:, list(idx), :]
        return out

    def inner_opening(self, *, normalised: bool = True) -> np.ndarray:
        """Inner-lip gap (mid upper to mid lower inner lip) per frame [shape=(n_frames,)].

        In face-normalised units (outer-eye-corner distance) or pixels; NaN in gaps.
        """
        lm = self.landmarks_norm if normalised else self.landmarks_px
        up = lm[:, LIP_GROUPS["inner_upper_mid"][0], :]
        lo = lm[:, LIP_GROUPS["inner_lower_mid"][0], :]
        out: np.ndarray = np.linalg.norm(lo - up, axis=-1)
        return out

    def mouth_width(self, *, normalised: bool = True) -> np.ndarray:
        """Outer corner-to-corner distance per frame [shape=(n_frames,)]; NaN in gaps."""
        lm = self.landmarks_norm if normalised else self.landmarks_px
        left, right = (lm[:, i, :] for i in LIP_GROUPS["corners"])
        out: np.ndarray = np.linalg.norm(right - left, axis=-1)
        return out

    def has_flag(self, flag: QualityFlag) -> np.ndarray:
        """Per-frame bool of whether ``flag`` is set [shape=(n_frames,)]."""
        out: np.ndarray = (self.quality & int(flag)) != 0
        return out


# --------------------------------------------------------------------------------------
# features


@dataclass(frozen=True, eq=False)
class LipFeatures(_DictMixin):
    """Lip-motion features of one clip (``lipauth.features.extract_lip_features``).

    Frame-level arrays share the track's frames. NaN never appears: frames without a
    usable face are filled (interpolated, or held at the edges) and masked by ``valid``.
    The appearance fields need pixels: when features were extracted from a track alone
    (no video) they are empty arrays of the documented width (0 rows) and
    ``micro_movement_index`` is NaN.

    Attributes
    ----------
    timestamps_s : np.ndarray [shape=(n_frames,), dtype=float64]
        Frame times in seconds.
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
        Frames with a detected face or inside a short, interpolated gap.
    shape : np.ndarray [shape=(n_frames, n_shape), dtype=float32]
        Smoothed shape features, columns named by ``shape_names``; lengths in face units
        (outer-eye-corner distance), areas in face units squared, ratios unitless.
    shape_names : tuple of str
        ``lipauth.features.SHAPE_FEATURES``.
    velocity, acceleration : np.ndarray [shape=(n_frames, n_shape), dtype=float32]
        Time derivatives of ``shape`` per second and per second squared (0 where invalid).
    motion_energy : np.ndarray [shape=(n_frames,), dtype=float32]
        Fused lip-motion energy (shape speed, with appearance channels when a video was
        given), face units per second; the signal the segments are cut from.
    similarity : np.ndarray [shape=(n_frames,) or (0,), dtype=float32]
        Cosine similarity of each labial crop with the previous one (1 = identical).
    micro_movement_index : float
        Clip-level micro-movement index from ``similarity`` (NaN without video).
    flow : np.ndarray [shape=(n_frames, n_flow) or (0, n_flow), dtype=float32]
        Per-frame optical-flow summary of the labial region, columns ``flow_names``.
    flow_names : tuple of str
    histograms : np.ndarray [shape=(n_windows, d), dtype=float32]
        Spatio-temporal gradient-histogram descriptor per time window ((0, d) without video).
    histogram_times_s : np.ndarray [shape=(n_windows,), dtype=float64]
        Centre time of each histogram window.
    segments : tuple of (start_s, end_s, label, peak)
        Intervals where the lips move; ``label`` is ``"normal"`` or ``"micro"``, ``peak``
        the segment's amplitude in face units.
    config : dict
        The feature configuration used (``FeatureConfig`` fields).
    landmarks : np.ndarray [shape=(n_frames, 40, 2) or (0, 40, 2), dtype=float32]
        The track's face-normalised lip landmarks (``LipTrack.landmarks_norm``), gaps
        filled by linear interpolation (held at the edges), unsmoothed: the audio-visual
        sync check reads them. Empty for features made without a track.
    """

    timestamps_s: np.ndarray = _array_field("float64", "(n,) seconds")
    valid: np.ndarray = _array_field("bool", "(n,)")
    shape: np.ndarray = _array_field("float32", "(n, n_shape) face units")
    velocity: np.ndarray = _array_field("float32", "(n, n_shape) per second")
    acceleration: np.ndarray = _array_field("float32", "(n, n_shape) per second^2")
    motion_energy: np.ndarray = _array_field("float32", "(n,) face units per second")
    similarity: np.ndarray = _array_field("float32", "(n,) or (0,) cosine similarity")
    flow: np.ndarray = _array_field("float32", "(n, n_flow) or (0, n_flow)")
    histograms: np.ndarray = _array_field("float32", "(n_windows, d)")
    histogram_times_s: np.ndarray = _array_field("float64", "(n_windows,) seconds")
    shape_names: tuple[str, ...] = ()
    flow_names: tuple[str, ...] = ()
    micro_movement_index: float = float("nan")
    segments: tuple[tuple[float, float, str, float], ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    landmarks: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 40, 2), np.float32),
        metadata={"dtype": "float32", "doc": "(n, 40, 2) or (0, 40, 2) face units"},
    )

    @property
    def n_frames(self) -> int:
        return int(self.timestamps_s.shape[0])

    @property
    def has_appearance(self) -> bool:
        """Whether the appearance fields were computed (a video was given)."""
        return int(self.similarity.shape[0]) > 0

    def column(self, name: str) -> np.ndarray:
        """One shape feature by name [shape=(n_frames,)]."""
        try:
            return self.shape[:, self.shape_names.index(name)]
        except ValueError:
            raise KeyError(f"unknown shape feature {name!r}; known: {list(self.shape_names)}") from None

    def opening_range(self) -> float:
        """How far the lips opened and closed: the 5th-95th percentile range of the
        ``opening`` column over the frames with a face (face units; 0 without one).

        Absolute, so a still face stays still however its tracker jitters (the motion
        segments are relative to the clip's own level)."""
        opening = self.column("opening")[self.valid]
        return float(np.percentile(opening, 95) - np.percentile(opening, 5)) if opening.size else 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        obj = super().from_dict(data)
        widths = {
            "shape": len(obj.shape_names),
            "velocity": len(obj.shape_names),
            "acceleration": len(obj.shape_names),
            "flow": len(obj.flow_names),
            "histograms": int(data.get("histogram_dim", 0)),
        }
        fixes: dict[str, Any] = {}
        for name, width in widths.items():
            arr = getattr(obj, name)
            if arr.ndim == 1 and arr.size == 0:
                fixes[name] = arr.reshape(0, width)
        if obj.landmarks.size == 0:
            fixes["landmarks"] = np.zeros((0, 40, 2), np.float32)
        fixes["segments"] = tuple((float(a), float(b), str(c), float(d)) for a, b, c, d in obj.segments)
        fixes["config"] = dict(obj.config)
        return dataclasses.replace(obj, **fixes)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["histogram_dim"] = int(self.histograms.shape[1]) if self.histograms.ndim == 2 else 0
        return out


@dataclass(frozen=True, eq=False)
class AudioFeatures(_DictMixin):
    """Audio features sampled at the video's frame times (``lipauth.features.audio``).

    Attributes
    ----------
    timestamps_s : np.ndarray [shape=(n_frames,), dtype=float64]
        Video frame times in seconds; feature ``i`` comes from the audio window centred
        on ``timestamps_s[i]``.
    voiced : np.ndarray [shape=(n_frames,), dtype=bool]
        Voice activity (WebRTC VAD) at each frame time.
    loudness_db : np.ndarray [shape=(n_frames,), dtype=float32]
        RMS level in dBFS (floor -100 dB, also outside the recording).
    onset_strength : np.ndarray [shape=(n_frames,), dtype=float32]
        Spectral flux (mean positive log-mel rise over 10 ms), natural-log units.
    log_mel : np.ndarray [shape=(n_frames, n_mels), dtype=float32]
        Natural log of mel-band power.
    in_audio : np.ndarray [shape=(n_frames,), dtype=bool]
        Frame times covered by the recording.
    sample_rate : int
        Rate of the audio the features came from, Hz.
    window_s : float
        Analysis window of loudness and log-mel, seconds.
    """

    timestamps_s: np.ndarray = _array_field("float64", "(n,) seconds")
    voiced: np.ndarray = _array_field("bool", "(n,)")
    loudness_db: np.ndarray = _array_field("float32", "(n,) dBFS")
    onset_strength: np.ndarray = _array_field("float32", "(n,) log units")
    log_mel: np.ndarray = _array_field("float32", "(n, n_mels) log power")
    in_audio: np.ndarray = _array_field("bool", "(n,)")
    sample_rate: int = 16000
    window_s: float = 0.04

    @property
    def n_frames(self) -> int:
        return int(self.timestamps_s.shape[0])


# --------------------------------------------------------------------------------------
# checks


@dataclass(frozen=True, eq=False)
class CheckResult(_DictMixin):
    """The outcome of one check (sync, blow, speech, sensors, password, commands, ...).

    A check measures; deciding is separate (``lipauth.decision``). ``accepted`` is just
    ``available and score >= threshold`` and no blocking reason, recorded for
    convenience; the policy may use other thresholds. Check-specific results subclass
    this and add their own fields (all with defaults).

    Attributes
    ----------
    check : str
        Name of the check, e.g. ``"sync"``, ``"blow"``, ``"sensors"``.
    score : float
        Continuous score, higher = more live / more genuine; NaN when not available.
    threshold : float
        The threshold the check used; every default threshold says what data it was
        tuned on in the check's docstring.
    accepted : bool
    reasons : tuple of str
        Stable upper-case reason codes (``"AV_DESYNC"``, ``"NO_SPEECH"``, ...); empty when
        nothing is wrong.
    available : bool
        False when the check could not run (e.g. no sensor data from a desktop webcam);
        then ``reasons`` says why and the policy decides.
    details : dict
        Check-specific numbers, JSON-ready.
    """

    check: str = ""
    score: float = float("nan")
    threshold: float = float("nan")
    accepted: bool = False
    reasons: tuple[str, ...] = ()
    available: bool = True
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ChallengeResult(CheckResult):
    """A challenge check's result with its per-frame signals: the base of the blow check's
    ``BlowResult`` and the timed-speech check's ``SpeechResult`` (``lipauth.checks.blow`` /
    ``lipauth.checks.speech``), and what :func:`lipauth.viz.plot_timeline` draws.

    Attributes
    ----------
    timestamps_s : np.ndarray [shape=(n_frames,), float64]
    audio_activity : np.ndarray [shape=(n_frames,), float64]
        What the check hears per frame (blow: blow probability; speech: voice activity 0/1).
    mouth_state : np.ndarray [shape=(n_frames,), int8]
        What the lips do per frame (``MOUTH_NEUTRAL`` 0, ``MOUTH_BLOW`` 1, ``MOUTH_OPEN`` 2;
        speech: 2 = lips moving).
    windows : tuple of (start_s, end_s, prompt)
        The challenge's prompt windows.
    """

    timestamps_s: np.ndarray = field(default_factory=lambda: np.zeros(0), metadata={"dtype": "float64"})
    audio_activity: np.ndarray = field(default_factory=lambda: np.zeros(0), metadata={"dtype": "float64"})
    mouth_state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8), metadata={"dtype": "int8"})
    windows: tuple[tuple[float, float, str], ...] = ()
