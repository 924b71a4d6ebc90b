"""Talking-face clips with known ground truth, built from a real face still.

:func:`make_talking_clip` is the main entry; :func:`make_no_face_clip`,
:func:`make_two_face_clip`, :func:`make_gap_clip` and :func:`make_still_clip` make the
special clips tests need. Each returns a :class:`SynthClip` holding the frames, the audio
and the per-frame ground truth, and writes it with :func:`lipauth.io.write_video` when a
path is given.

Geometry: every frame is the still (:func:`lipauth.synth.face.astronaut`), its mouth
warped by :class:`~lipauth.synth.face.MouthWarper`, mapped into the frame by a similarity
transform ``affine[i]`` (still pixels -> frame pixels). The base transform puts the face
box centre at the frame centre with the face ``face_width_px`` wide; head motion is a
smooth ``(dx, dy, angle_deg, scale)`` on top of it, about the face centre.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import ConfigError
from lipauth.synth.control import (
    SyllableSchedule,
    _check_windows,
    blow_schedule,
    intervals_from_signal,
    random_syllable_schedule,
)
from lipauth.synth.face import ASTRONAUT_FACE_BOX, ASTRONAUT_LANDMARKS, MouthWarper, astronaut, face_mask
from lipauth.synth.voice import blow_noise, voice_from_opening, voiced_syllables
from lipauth.types import Audio, Video

__all__ = [
    "SynthClip",
    "make_talking_clip",
    "make_no_face_clip",
    "make_two_face_clip",
    "make_gap_clip",
    "make_still_clip",
    "face_affine",
    "write_clip",
]

log = logging.getLogger(__name__)

_FACE_W = ASTRONAUT_FACE_BOX[2] - ASTRONAUT_FACE_BOX[0]
_FACE_CENTRE = (
    0.5 * (ASTRONAUT_FACE_BOX[0] + ASTRONAUT_FACE_BOX[2]),
    0.5 * (ASTRONAUT_FACE_BOX[1] + ASTRONAUT_FACE_BOX[3]),
)
_MOUTH_CENTRE = (
    0.5 * (ASTRONAUT_LANDMARKS["lip_left"][0] + ASTRONAUT_LANDMARKS["lip_right"][0]),
    0.5 * (ASTRONAUT_LANDMARKS["inner_upper_mid"][1] + ASTRONAUT_LANDMARKS["inner_lower_mid"][1]),
)
_BACKGROUNDS = ("image", "blurred", "plain")
_AUDIO_KEYWORDS = ("syllables", "silence", "blow")
_PLAIN_RGB = (118, 122, 128)


@dataclass(frozen=True, eq=False)
class SynthClip:
    """A synthetic clip and its ground truth.

    Attributes
    ----------
    frames : np.ndarray [shape=(n, height, width, 3), dtype=uint8]
        RGB frames.
    timestamps_s : np.ndarray [shape=(n,), dtype=float64]
        Presentation time of each frame (first frame at 0).
    fps : float
        Nominal frame rate (``(n - 1) / (t_last - t_first)`` for explicit timestamps).
    opening : np.ndarray [shape=(n,), dtype=float64]
        Mouth opening drawn in each frame, 0 (as in the still) to 1 (wide open).
    width : np.ndarray [shape=(n,), dtype=float64]
        Mouth width drawn in each frame, -1 (pursed) .. 0 (still) .. 1 (spread).
    speech_intervals_s : tuple of (float, float)
        Where the mouth speaks (the syllable runs; for a given opening, its runs above
        0.05). Voiced when the audio is ``"syllables"``; silent speech otherwise.
    blow_intervals_s : tuple of (float, float)
        Where the person blows (pursed lips, breath noise in ``"syllables"``/``"blow"`` audio).
    head_transform : np.ndarray [shape=(n, 4), dtype=float64]
        ``dx_px, dy_px, angle_deg, scale`` of the head relative to the base framing:
        translation of the face centre in frame pixels, in-plane rotation about the face
        centre (degrees, counter-clockwise on screen), relative scale (1 = base size).
    affine : np.ndarray [shape=(n, 2, 3), dtype=float64]
        Full similarity transform from still pixels to frame pixels per frame
        (``[x', y'] = A @ [x, y, 1]``).
    face_box_px : np.ndarray [shape=(n, 4), dtype=float64]
        ``x0, y0, x1, y1`` of the primary face (axis-aligned box around the transformed
        face box of the still), even when it lies outside the frame.
    mouth_centre_px : np.ndarray [shape=(n, 2), dtype=float64]
        Mouth centre (between the corners, on the line between the lips) in frame pixels.
    face_visible : np.ndarray [shape=(n,), dtype=bool]
        At least half of the primary face box lies inside the frame.
    n_faces : np.ndarray [shape=(n,), dtype=uint8]
        Faces drawn in each frame (visible ones).
    secondary_face_box_px : np.ndarray [shape=(n, 4), dtype=float64] or None
        Box of the second, smaller face when there is one; the primary face is the
        larger one described by ``face_box_px``.
    light_gain, light_gamma : np.ndarray [shape=(n,), dtype=float64]
        Photometric change applied to each frame: ``out = 255 * gain * (in / 255) ** gamma``.
    audio : Audio or None
        Mono float32 audio on the video's time axis (``start_s = 0``), or None for a clip
        without an audio stream.
    audio_lead_s : float
        How far the voice envelope runs ahead of the opening.
    face_width_px : float
        Width of the face box at scale 1, in frame pixels.
    seed : int
    path : Path or None
        The written file, when a path was given.
    """

    frames: np.ndarray
    timestamps_s: np.ndarray
    fps: float
    opening: np.ndarray
    width: np.ndarray
    speech_intervals_s: tuple[tuple[float, float], ...]
    blow_intervals_s: tuple[tuple[float, float], ...]
    head_transform: np.ndarray
    affine: np.ndarray
    face_box_px: np.ndarray
    mouth_centre_px: np.ndarray
    face_visible: np.ndarray
    n_faces: np.ndarray
    secondary_face_box_px: np.ndarray | None
    light_gain: np.ndarray
    light_gamma: np.ndarray
    audio: Audio | None
    audio_lead_s: float
    face_width_px: float
    seed: int
    path: Path | None = None
    schedule: SyllableSchedule | None = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.timestamps_s.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def duration_s(self) -> float:
        return float(self.timestamps_s[-1] + 1.0 / self.fps) if self.n_frames else 0.0

    def to_video(self) -> Video:
        """The frames as an in-memory :class:`~lipauth.types.Video` (no encoding)."""
        return Video(
            frames=self.frames,
            timestamps_s=self.timestamps_s,
            width=self.size[0],
            height=self.size[1],
            nominal_fps=float(self.fps),
            measured_fps=float(self.fps),
            codec="rawvideo",
            source=str(self.path) if self.path else "<synth>",
        )

    def truth_dict(self) -> dict[str, Any]:
        """Ground truth as JSON-ready lists (no frames, no audio samples)."""

        def arr(a: np.ndarray | None) -> Any:
            return None if a is None else np.asarray(a).tolist()

        return {
            "n_frames": self.n_frames,
            "size": list(self.size),
            "fps": self.fps,
            "timestamps_s": arr(self.timestamps_s),
            "opening": arr(self.opening),
            "width": arr(self.width),
            "speech_intervals_s": [list(p) for p in self.speech_intervals_s],
            "blow_intervals_s": [list(p) for p in self.blow_intervals_s],
            "head_transform": arr(self.head_transform),
            "face_box_px": arr(self.face_box_px),
            "mouth_centre_px": arr(self.mouth_centre_px),
            "face_visible": arr(self.face_visible),
            "n_faces": arr(self.n_faces),
            "secondary_face_box_px": arr(self.secondary_face_box_px),
            "light_gain": arr(self.light_gain),
            "light_gamma": arr(self.light_gamma),
            "audio_sample_rate": self.audio.sample_rate if self.audio is not None else None,
            "audio_lead_s": self.audio_lead_s,
            "face_width_px": self.face_width_px,
            "seed": self.seed,
            "path": str(self.path) if self.path else None,
        }


# --------------------------------------------------------------------------------------
# geometry


def face_affine(
    size: tuple[int, int],
    face_width_px: float,
    *,
    dx_px: float = 0.0,
    dy_px: float = 0.0,
    angle_deg: float = 0.0,
    scale: float = 1.0,
    centre_px: tuple[float, float] | None = None,
) -> np.ndarray:
    """Similarity transform still -> frame [shape=(2, 3), float64].

    The still's face box centre goes to ``centre_px`` (default: the frame centre) plus
    ``(dx_px, dy_px)``, rotated by ``angle_deg`` (counter-clockwise on screen) and scaled so
    the face is ``face_width_px * scale`` wide.
    """
    w, h = size
    cx, cy = centre_px if centre_px is not None else (0.5 * w, 0.5 * h)
    k = face_width_px / _FACE_W * scale
    a = np.deg2rad(angle_deg)
    c, s = k * np.cos(a), k * np.sin(a)
    fx, fy = _FACE_CENTRE
    # OpenCV convention (y down): [[c, s], [-s, c]] turns counter-clockwise on screen
    return np.array(
        [[c, s, cx + dx_px - (c * fx + s * fy)], [-s, c, cy + dy_px - (-s * fx + c * fy)]], dtype=np.float64
    )


def _apply(affine: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ affine[:, :2].T + affine[:, 2]


def _box_of(affine: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    corners = _apply(affine, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64))
    return np.array([*corners.min(axis=0), *corners.max(axis=0)])


def _visible_fraction(box: np.ndarray, size: tuple[int, int]) -> float:
    w, h = size
    x0, y0, x1, y1 = box
    area = max((x1 - x0) * (y1 - y0), 1e-9)
    ix = max(0.0, min(x1, w) - max(x0, 0.0))
    iy = max(0.0, min(y1, h) - max(y0, 0.0))
    return ix * iy / area


def _smooth_motion(n: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth random curve in [-1, 1] per frame: two sinusoids at 0.15-0.6 Hz."""
    f = rng.uniform(0.15, 0.6, size=2)
    ph = rng.uniform(0, 2 * np.pi, size=2)
    amp = np.array([1.0, rng.uniform(0.3, 0.6)])
    y = sum(a * np.sin(2 * np.pi * fi * t + p) for a, fi, p in zip(amp, f, ph))
    peak = float(np.max(np.abs(y))) if n else 1.0
    return y / max(peak, 1e-9)


# --------------------------------------------------------------------------------------
# validation


def _check_size(size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"size={size!r} is not a (width, height) pair of pixels; pass e.g. (640, 480)") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096) or w % 2 or h % 2:
        raise ConfigError(f"size={size!r}: width and height must be even numbers from 16 to 4096, e.g. (640, 480)")
    return w, h


def _check_positive(name: str, value: Any, example: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a number; pass e.g. {example}") from None
    if not (np.isfinite(v) and v > 0):
        raise ConfigError(f"{name}={value!r} must be a positive number; pass e.g. {example}")
    return v


def _timeline(duration_s: float, fps: float, timestamps_s: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    if timestamps_s is not None:
        t = np.asarray(timestamps_s, dtype=np.float64)
        if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise ConfigError(
                f"timestamps_s (shape {t.shape}) must be at least 2 finite, strictly increasing times in seconds"
            )
        t = t - t[0]
        nominal = (t.size - 1) / t[-1]
        return t, float(nominal), float(t[-1] + np.median(np.diff(t)))
    duration_s = _check_positive("duration_s", duration_s, "3.0")
    fps = _check_positive("fps", fps, "30.0")
    n = int(round(duration_s * fps))
    if n < 1:
        raise ConfigError(f"duration_s={duration_s} at fps={fps} gives no frame; pass a longer duration")
    return np.arange(n, dtype=np.float64) / fps, fps, duration_s


def _per_frame(name: str, value: Any, n: int, lo: float, hi: float) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ConfigError(f"{name} has shape {arr.shape}; pass one value per frame, shape ({n},)")
    if not np.all(np.isfinite(arr)) or arr.min() < lo - 1e-9 or arr.max() > hi + 1e-9:
        raise ConfigError(
            f"{name} must lie in [{lo}, {hi}]; got values from {np.nanmin(arr):.3g} to {np.nanmax(arr):.3g}"
        )
    return np.clip(arr, lo, hi)


# --------------------------------------------------------------------------------------
# rendering


class _Renderer:
    """Draws frames: mouth warp on the still, similarity into the frame, compositing."""

    def __init__(self, size: tuple[int, int], background: str, base_affine: np.ndarray) -> None:
        import cv2

        self.size = size
        self.background = background
        self.still = astronaut()
        self.warper = MouthWarper()
        self.buf = self.still.copy()
        self.mask = face_mask()
        w, h = size
        if background == "plain":
            self.bg = np.empty((h, w, 3), dtype=np.uint8)
            self.bg[...] = _PLAIN_RGB
        elif background == "blurred":
            # fill the head from its surroundings (normalised convolution), then blur,
            # so no ghost of the face stays in the background
            keep = (1.0 - self.mask)[..., None]
            num = cv2.GaussianBlur(self.still.astype(np.float32) * keep, (0, 0), sigmaX=40.0)
            den = cv2.GaussianBlur(keep, (0, 0), sigmaX=40.0)[..., None]
            filled = self.still * keep + (num / np.maximum(den, 1e-3)) * (1.0 - keep)
            blurred = cv2.GaussianBlur(np.clip(filled, 0, 255).astype(np.uint8), (0, 0), sigmaX=9.0)
            self.bg = cv2.warpAffine(
                blurred, base_affine, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        else:
            self.bg = None

    def _composite(self, frame: np.ndarray, image: np.ndarray, affine: np.ndarray) -> None:
        """Paste the head of ``image`` (still coordinates) into ``frame`` through ``affine``."""
        import cv2

        w, h = self.size
        cx, cy = (226.0, 112.0)
        box = _box_of(affine, (cx - 74, cy - 100, cx + 74, cy + 100))
        x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
        x1, y1 = min(int(np.ceil(box[2])) + 1, w), min(int(np.ceil(box[3])) + 1, h)
        if x1 <= x0 or y1 <= y0:
            return
        m = affine.copy()
        m[:, 2] -= (x0, y0)
        dsize = (x1 - x0, y1 - y0)
        fg = cv2.warpAffine(image, m, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        a = cv2.warpAffine(self.mask, m, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        region = frame[y0:y1, x0:x1]
        region[...] = cv2.blendLinear(fg, np.ascontiguousarray(region), a, 1.0 - a)

    def render(
        self, affine: np.ndarray, opening: float, width: float, *, face: bool, second: np.ndarray | None
    ) -> np.ndarray:
        import cv2

        warped = self.warper.warp(self.still, opening, width, out=self.buf) if face else self.still
        if self.bg is None:
            frame = cv2.warpAffine(
                warped, affine, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                borderValue=_PLAIN_RGB,
            )
            if second is not None:
                self._composite(frame, self.still, second)
            return frame
        frame = self.bg.copy()
        if second is not None:
            self._composite(frame, self.still, second)
        if face:
            self._composite(frame, warped, affine)
        return frame


class _NoisePool:
    """Gaussian sensor noise: a few pre-drawn fields, a random one at a random shift per
    frame (drawing a fresh full-frame field every frame would dominate the run time)."""

    _N_FIELDS = 6
    _PAD = 24

    def __init__(self, size: tuple[int, int], std: float, rng: np.random.Generator) -> None:
        w, h = size
        shape = (self._N_FIELDS, h + self._PAD, w + self._PAD, 3)
        self.fields = np.round(rng.standard_normal(shape, dtype=np.float32) * std).astype(np.int16)
        self.rng = rng
        self.size = size

    def add(self, frame: np.ndarray) -> np.ndarray:
        w, h = self.size
        k = int(self.rng.integers(self._N_FIELDS))
        dy, dx = (int(v) for v in self.rng.integers(self._PAD, size=2))
        noisy = frame.astype(np.int16) + self.fields[k, dy : dy + h, dx : dx + w]
        return np.clip(noisy, 0, 255).astype(np.uint8)


def _lighting(n: int, enabled: bool, gain_end: float, gamma_end: float) -> tuple[np.ndarray, np.ndarray]:
    if not enabled:
        return np.ones(n), np.ones(n)
    x = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip((x - 0.2) / 0.6, 0.0, 1.0))
    return 1.0 + (gain_end - 1.0) * ramp, 1.0 + (gamma_end - 1.0) * ramp


# --------------------------------------------------------------------------------------
# audio


def _make_audio(
    spec: Any,
    *,
    schedule: SyllableSchedule | None,
    opening: np.ndarray,
    timestamps_s: np.ndarray,
    duration_s: float,
    blow_windows: list[tuple[float, float]],
    sample_rate: int,
    lead_s: float,
    seed: int,
) -> Audio | None:
    if spec is None:
        return None
    if isinstance(spec, Audio):
        return spec
    if isinstance(spec, np.ndarray):
        samples = np.asarray(spec, dtype=np.float32)
        if samples.ndim != 1:
            raise ConfigError(f"audio array has shape {samples.shape}; pass mono samples of shape (n,)")
        return Audio(samples=samples, sample_rate=sample_rate, start_s=0.0, codec="pcm_f32le", source="<synth>")
    if isinstance(spec, (str, os.PathLike)) and str(spec) not in _AUDIO_KEYWORDS:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"audio={str(spec)!r} is neither one of {_AUDIO_KEYWORDS} nor an existing audio file")
        from lipauth.io import load_audio

        return load_audio(path, sample_rate=sample_rate)
    n = int(round(duration_s * sample_rate))
    if spec == "silence":
        samples = np.zeros(n, dtype=np.float32)
    elif spec == "blow":
        if not blow_windows:
            raise ConfigError("audio='blow' needs blow_windows_s=[(start_s, end_s), ...]; pass the windows to blow in")
        samples = blow_noise(blow_windows, duration_s=duration_s, sample_rate=sample_rate, seed=seed)
    elif spec == "syllables":
        if schedule is not None:
            samples = voiced_syllables(schedule, sample_rate=sample_rate, lead_s=lead_s, seed=seed)
        else:
            samples = voice_from_opening(
                opening, timestamps_s, duration_s=duration_s, sample_rate=sample_rate, lead_s=lead_s, seed=seed
            )
        if blow_windows:
            samples = np.clip(
                samples + blow_noise(blow_windows, duration_s=duration_s, sample_rate=sample_rate, seed=seed), -1, 1
            ).astype(np.float32)
    else:
        raise ConfigError(f"audio={spec!r}: pass one of {_AUDIO_KEYWORDS}, a wav path, an Audio, an array or None")
    return Audio(samples=samples, sample_rate=sample_rate, start_s=0.0, codec="pcm_f32le", source="<synth>")


# --------------------------------------------------------------------------------------
# public


def make_talking_clip(
    path: str | os.PathLike[str] | None = None,
    *,
    duration_s: float = 3.0,
    fps: float = 30.0,
    timestamps_s: np.ndarray | None = None,
    size: tuple[int, int] = (640, 480),
    face_width_px: float = 200,
    opening: np.ndarray | None = None,
    width: np.ndarray | float | None = None,
    speech_intervals_s: list[tuple[float, float]] | None = None,
    blow_windows_s: list[tuple[float, float]] | None = None,
    head_motion: bool = False,
    max_angle_deg: float = 12.0,
    max_scale_change: float = 0.15,
    max_shift: float = 0.2,
    lighting_change: bool = False,
    light_gain_end: float = 0.55,
    light_gamma_end: float = 1.3,
    noise_std: float = 0.0,
    background: str = "image",
    audio: str | os.PathLike[str] | Audio | np.ndarray | None = "syllables",
    audio_lead_s: float = 0.02,
    sample_rate: int = 16000,
    seed: int = 0,
    face_absent_s: list[tuple[float, float]] | None = None,
    second_face_width_px: float | None = None,
    show_face: bool = True,
    crf: int | None = None,
) -> SynthClip:
    """Make a talking-face clip whose lips follow a known control signal.

    Parameters
    ----------
    path : str or PathLike, optional
        Write the clip here (``.mp4``: H.264 + AAC, ``.webm``: VP8 + Opus, ...).
    duration_s, fps : float
        Length and frame rate (ignored when ``timestamps_s`` is given).
    timestamps_s : np.ndarray [shape=(n,)], optional
        Explicit, strictly increasing frame times (variable frame rate); shifted to start at 0.
    size : (int, int)
        ``(width, height)`` of the frames, even numbers.
    face_width_px : float
        Width of the face (eye-to-eye region plus cheeks, the still's face box) in pixels.
    opening : np.ndarray [shape=(n,)], optional
        Mouth opening per frame in [0, 1]; default: a random syllable schedule (``seed``).
    width : np.ndarray [shape=(n,)] or float, optional
        Mouth width per frame in [-1, 1]; default: follows the syllables' vowels
        (0 when ``opening`` is given).
    speech_intervals_s : list of (start_s, end_s), optional
        Ground-truth speech intervals when ``opening`` is given (default: runs of opening > 0.05).
    blow_windows_s : list of (start_s, end_s), optional
        Blow here: pursed lips with a small opening; syllables overlapping them are
        dropped; ``audio="syllables"`` adds breath noise there, ``audio="blow"`` has only it.
    head_motion : bool
        Smooth random head motion: shifts up to ``max_shift`` face widths, in-plane
        rotation up to ``max_angle_deg``, scale change up to ``max_scale_change``.
    lighting_change : bool
        Gain ramps from 1 to ``light_gain_end`` and gamma from 1 to ``light_gamma_end``
        over the middle 60 % of the clip.
    noise_std : float
        Standard deviation of Gaussian sensor noise in 8-bit levels (0: none).
    background : {"image", "blurred", "plain"}
        The rest of the still, a blurred copy of it (static while the head moves), or a
        plain grey.
    audio : "syllables", "silence", "blow", a wav path, Audio, np.ndarray or None
        Voiced syllables in step with the openings, zeros, breath noise in
        ``blow_windows_s``, a given sound (an array is taken at ``sample_rate``), or no
        audio stream at all (None).
    audio_lead_s : float
        The voice envelope at time ``t`` follows the opening at ``t + audio_lead_s``.
    sample_rate : int
        Audio rate in Hz.
    seed : int
        Seed for the schedule, motion, noise and voice (``numpy.random.default_rng``).
    face_absent_s : list of (start_s, end_s), optional
        The face slides out of the frame (to the left, 0.2 s slide) and is absent
        during these windows.
    second_face_width_px : float, optional
        Add a second, smaller, still face of this width to the right of the primary one.
    show_face : bool
        False draws only the background (no face at all).
    crf : int, optional
        Encoder quality passed to :func:`lipauth.io.write_video`.

    Returns
    -------
    SynthClip
    """
    import cv2

    size = _check_size(size)
    face_width_px = _check_positive("face_width_px", face_width_px, "200")
    if not 20 <= face_width_px <= 4000:
        raise ConfigError(f"face_width_px={face_width_px!r} must be from 20 to 4000 pixels, e.g. 200")
    if background not in _BACKGROUNDS:
        raise ConfigError(f"background={background!r}: pass one of {_BACKGROUNDS}")
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ConfigError(f"noise_std={noise_std!r} must be >= 0 (8-bit levels), e.g. 3.0")
    if not 0 <= max_angle_deg <= 30 or not 0 <= max_scale_change < 0.5 or not 0 <= max_shift <= 2:
        raise ConfigError(
            f"head motion limits (max_angle_deg={max_angle_deg}, max_scale_change={max_scale_change}, "
            f"max_shift={max_shift}) must be within 0-30 deg, 0-0.5 and 0-2 face widths"
        )
    if not (0.05 <= light_gain_end <= 4 and 0.2 <= light_gamma_end <= 5):
        raise ConfigError(
            f"light_gain_end={light_gain_end!r} / light_gamma_end={light_gamma_end!r} must be within 0.05-4 / 0.2-5"
        )
    t, fps, duration_s = _timeline(duration_s, fps, timestamps_s)
    n = t.size
    blow = _check_windows("blow_windows_s", blow_windows_s or [])
    absent = _check_windows("face_absent_s", face_absent_s or [])

    # ---- control signals
    schedule: SyllableSchedule | None = None
    if opening is None:
        schedule = random_syllable_schedule(duration_s, seed=seed)
        if blow:
            schedule = schedule.without(blow, margin_s=0.1)
        opening_arr = schedule.opening_at(t)
        width_arr = schedule.width_at(t)
        speech = schedule.speech_intervals_s
        if blow:
            b_open, b_width = blow_schedule(blow, t)
            opening_arr = np.maximum(opening_arr, b_open)
            # pursed inside the windows, the syllables' width outside
            width_arr = b_width + width_arr * (1.0 + b_width)
        if width is not None:
            width_arr = _per_frame("width", width, n, -1.0, 1.0)
    else:
        opening_arr = _per_frame("opening", opening, n, 0.0, 1.0)
        width_arr = _per_frame("width", 0.0 if width is None else width, n, -1.0, 1.0)
        speech = tuple(
            _check_windows("speech_intervals_s", speech_intervals_s)
            if speech_intervals_s is not None
            else intervals_from_signal(opening_arr, t)
        )
    if not show_face:
        opening_arr = np.zeros(n)
        width_arr = np.zeros(n)

    # ---- geometry
    rng_motion = np.random.default_rng([seed, 1])
    head = np.zeros((n, 4))
    head[:, 3] = 1.0
    if head_motion:
        head[:, 0] = max_shift * face_width_px * _smooth_motion(n, t, rng_motion)
        head[:, 1] = 0.6 * max_shift * face_width_px * _smooth_motion(n, t, rng_motion)
        head[:, 2] = max_angle_deg * _smooth_motion(n, t, rng_motion)
        head[:, 3] = 1.0 + max_scale_change * _smooth_motion(n, t, rng_motion)
    w_px, h_px = size
    centre = (0.5 * w_px, 0.5 * h_px)
    if second_face_width_px is not None:
        second_face_width_px = _check_positive("second_face_width_px", second_face_width_px, "90")
        # primary left of centre, the second face to its right
        gap = 0.25 * face_width_px
        total = face_width_px * 1.3 + gap + second_face_width_px * 1.3
        centre = (0.5 * w_px - 0.5 * total + 0.65 * face_width_px, 0.5 * h_px)
        second_centre = (centre[0] + 0.65 * face_width_px + gap + 0.65 * second_face_width_px, 0.5 * h_px)
    for a, b in absent:
        # slide left by enough to clear the frame, 0.2 s ramps
        off = centre[0] + 1.0 * face_width_px * 1.2
        up = np.clip((t - (a - 0.2)) / 0.2, 0, 1)
        down = np.clip(((b + 0.2) - t) / 0.2, 0, 1)
        ramp = np.minimum(0.5 - 0.5 * np.cos(np.pi * up), 0.5 - 0.5 * np.cos(np.pi * down))
        head[:, 0] -= off * ramp
    affines = np.stack(
        [
            face_affine(size, face_width_px, dx_px=d[0], dy_px=d[1], angle_deg=d[2], scale=d[3], centre_px=centre)
            for d in head
        ]
    )
    face_boxes = np.stack([_box_of(a, ASTRONAUT_FACE_BOX) for a in affines])
    mouth = np.stack([_apply(a, np.array(_MOUTH_CENTRE)) for a in affines])
    visible = np.array([show_face and _visible_fraction(b, size) >= 0.5 for b in face_boxes], dtype=bool)
    second_affine = None
    second_boxes = None
    if second_face_width_px is not None:
        second_affine = face_affine(size, second_face_width_px, centre_px=second_centre)
        second_boxes = np.tile(_box_of(second_affine, ASTRONAUT_FACE_BOX), (n, 1))
    n_faces = visible.astype(np.uint8) + (0 if second_affine is None else 1)

    # ---- frames
    gain, gamma = _lighting(n, lighting_change, light_gain_end, light_gamma_end)
    base_affine = face_affine(size, face_width_px, centre_px=centre)
    renderer = _Renderer(size, background, base_affine)
    noise = _NoisePool(size, noise_std, np.random.default_rng([seed, 2])) if noise_std > 0 else None
    frames = np.empty((n, h_px, w_px, 3), dtype=np.uint8)
    levels = np.arange(256, dtype=np.float64) / 255.0
    for i in range(n):
        frame = renderer.render(
            affines[i], float(opening_arr[i]), float(width_arr[i]),
            face=bool(show_face and _visible_fraction(face_boxes[i], size) > 0), second=second_affine,
        )
        if gain[i] != 1.0 or gamma[i] != 1.0:
            lut = np.clip(255.0 * gain[i] * levels ** gamma[i] + 0.5, 0, 255).astype(np.uint8)
            frame = cv2.LUT(frame, lut)
        frames[i] = noise.add(frame) if noise is not None else frame

    # ---- audio
    audio_obj = _make_audio(
        audio, schedule=schedule, opening=opening_arr, timestamps_s=t, duration_s=duration_s,
        blow_windows=blow, sample_rate=sample_rate, lead_s=audio_lead_s, seed=seed,
    )
    clip = SynthClip(
        frames=frames, timestamps_s=t, fps=float(fps), opening=opening_arr, width=width_arr,
        speech_intervals_s=tuple(speech), blow_intervals_s=tuple(blow), head_transform=head, affine=affines,
        face_box_px=face_boxes, mouth_centre_px=mouth, face_visible=visible, n_faces=n_faces,
        secondary_face_box_px=second_boxes, light_gain=gain, light_gamma=gamma, audio=audio_obj,
        audio_lead_s=float(audio_lead_s), face_width_px=float(face_width_px), seed=int(seed), schedule=schedule,
    )
    if path is not None:
        clip = write_clip(clip, path, variable_rate=timestamps_s is not None, crf=crf)
    return clip


def write_clip(
    clip: SynthClip, path: str | os.PathLike[str], *, variable_rate: bool = False, crf: int | None = None
) -> SynthClip:
    """Encode ``clip`` with :func:`lipauth.io.write_video`; returns it with ``path`` set."""
    import dataclasses

    from lipauth.io import write_video

    out = write_video(
        path, clip.frames, fps=None if variable_rate else clip.fps,
        timestamps_s=clip.timestamps_s if variable_rate else None,
        audio=clip.audio, audio_start_s=0.0, crf=crf,
    )
    log.info("wrote synthetic clip %s (%d frames)", out, clip.n_frames)
    return dataclasses.replace(clip, path=Path(out))


def make_still_clip(
    path: str | os.PathLike[str] | None = None,
    *,
    duration_s: float = 2.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    face_width_px: float = 200,
    audio: str | os.PathLike[str] | Audio | np.ndarray | None = "silence",
    **kwargs: Any,
) -> SynthClip:
    """A still: the neutral face in every frame, all frames identical (a photo attack).

    No motion, no lighting change, no noise. ``audio`` defaults to silence; pass
    ``"syllables"`` for a photo dubbed with speech (the voice follows a random schedule
    the still mouth never shows). Other keyword arguments go to :func:`make_talking_clip`.
    """
    for key in ("opening", "width", "head_motion", "lighting_change", "noise_std"):
        if kwargs.get(key):
            raise ConfigError(f"make_still_clip: {key}={kwargs[key]!r} would move the still; use make_talking_clip")
        kwargs.pop(key, None)
    n = len(_timeline(duration_s, fps, kwargs.get("timestamps_s"))[0])
    voice = audio
    if isinstance(audio, str) and audio == "syllables":
        schedule = random_syllable_schedule(float(duration_s), seed=int(kwargs.get("seed", 0)))
        voice = Audio(
            samples=voiced_syllables(schedule, seed=int(kwargs.get("seed", 0))),
            sample_rate=16000, start_s=0.0, codec="pcm_f32le", source="<synth>",
        )
    return make_talking_clip(
        path, duration_s=duration_s, fps=fps, size=size, face_width_px=face_width_px,
        opening=np.zeros(n), width=np.zeros(n), speech_intervals_s=[], audio=voice, **kwargs,
    )


def make_no_face_clip(
    path: str | os.PathLike[str] | None = None,
    *,
    duration_s: float = 2.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    audio: str | os.PathLike[str] | Audio | np.ndarray | None = "silence",
    noise_std: float = 2.0,
    seed: int = 0,
    crf: int | None = None,
) -> SynthClip:
    """A clip without any face: a slowly panning view of the still's lower half (suit,
    badge, helmet) with sensor noise. ``face_visible`` is all False, ``n_faces`` all 0."""
    import cv2

    size = _check_size(size)
    t, fps, duration_s = _timeline(duration_s, fps, None)
    n = t.size
    still = astronaut()
    region = still[300:512, 0:512]  # below the neck: no face
    w, h = size
    k = max(w / region.shape[1], h / region.shape[0]) * 1.15
    rng = np.random.default_rng([seed, 3])
    pan = _smooth_motion(n, t, rng)
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    spare_x = region.shape[1] * k - w
    for i in range(n):
        m = np.array([[k, 0.0, -0.5 * spare_x * (1 + 0.8 * pan[i])], [0.0, k, -0.5 * (region.shape[0] * k - h)]])
        frame = cv2.warpAffine(region, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if noise_std > 0:
            noisy = frame.astype(np.float32) + rng.standard_normal(frame.shape, dtype=np.float32) * noise_std
            frame = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
        frames[i] = frame
    zeros = np.zeros(n)
    audio_obj = _make_audio(
        audio, schedule=random_syllable_schedule(duration_s, seed=seed) if audio == "syllables" else None,
        opening=zeros, timestamps_s=t, duration_s=duration_s, blow_windows=[], sample_rate=16000, lead_s=0.0,
        seed=seed,
    )
    nan_box = np.full((n, 4), np.nan)
    clip = SynthClip(
        frames=frames, timestamps_s=t, fps=float(fps), opening=zeros, width=zeros.copy(), speech_intervals_s=(),
        blow_intervals_s=(), head_transform=np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)), affine=np.full((n, 2, 3), np.nan),
        face_box_px=nan_box, mouth_centre_px=np.full((n, 2), np.nan), face_visible=np.zeros(n, dtype=bool),
        n_faces=np.zeros(n, dtype=np.uint8), secondary_face_box_px=None, light_gain=np.ones(n),
        light_gamma=np.ones(n), audio=audio_obj, audio_lead_s=0.0, face_width_px=0.0, seed=int(seed),
    )
    if path is not None:
        clip = write_clip(clip, path, crf=crf)
    return clip


def make_two_face_clip(
    path: str | os.PathLike[str] | None = None,
    *,
    face_width_px: float = 160,
    second_face_width_px: float | None = None,
    background: str = "blurred",
    **kwargs: Any,
) -> SynthClip:
    """Two faces: the talking primary face (larger, left of centre, ``face_box_px``) and a
    second, still astronaut face half as wide beside it (``secondary_face_box_px``).

    Other keyword arguments go to :func:`make_talking_clip`.
    """
    if second_face_width_px is None:
        second_face_width_px = 0.5 * float(face_width_px)
    if float(second_face_width_px) >= float(face_width_px):
        raise ConfigError(
            f"second_face_width_px={second_face_width_px} must be smaller than face_width_px={face_width_px} "
            "so the primary face is the larger one"
        )
    return make_talking_clip(
        path, face_width_px=face_width_px, second_face_width_px=second_face_width_px, background=background, **kwargs
    )


def make_gap_clip(
    path: str | os.PathLike[str] | None = None,
    *,
    duration_s: float = 3.0,
    gap_s: tuple[float, float] = (1.0, 2.0),
    background: str = "blurred",
    **kwargs: Any,
) -> SynthClip:
    """The face slides out of the frame (to the left), stays out during ``gap_s`` and
    comes back; ``face_visible`` says which frames show it.

    Other keyword arguments go to :func:`make_talking_clip`.
    """
    a, b = (float(v) for v in gap_s)
    if not 0.2 <= a < b <= float(duration_s) - 0.2:
        raise ConfigError(
            f"gap_s={gap_s!r} must lie inside the clip with 0.2 s to spare on both sides (duration_s={duration_s})"
        )
    return make_talking_clip(path, duration_s=duration_s, face_absent_s=[(a, b)], background=background, **kwargs)
