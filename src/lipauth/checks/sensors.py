"""Device motion: a hand-held phone trembles and drifts; a rig, an emulator or a replay does not.

Input (as a browser's ``DeviceMotionEvent`` / ``DeviceOrientationEvent`` give it): a JSON
list of samples, each an object with

- ``t_ms``: timestamp in milliseconds (strictly increasing),
- ``ax, ay, az``: acceleration including gravity in m/s^2 (``accelerationIncludingGravity``),
- ``alpha, beta, gamma``: orientation in degrees (alpha 0-360, beta -180-180, gamma -90-90).

or an object ``{"samples": [...]}``. At least 1 s at >= 20 Hz is needed for features.

Features (:func:`sensor_features`): ``tremor_ratio`` (share of the acceleration-magnitude
power in the 8-12 Hz physiological tremor band, relative to 1-20 Hz), ``accel_noise``
(std of the high-passed acceleration magnitude, m/s^2), ``orientation_std_deg`` (std of
beta and gamma), ``drift_deg`` (range of the low-passed orientation).

:func:`check_sensors` flags ``STATIC_DEVICE`` (no noise at all: a rig or an emulator),
``REPLAYED_TRACE`` (identical to a stored trace of the profile) and scores consistency
with a :class:`SensorProfile` built at enrolment from several sessions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lipauth.errors import SensorDataError
from lipauth.types import CheckResult

__all__ = [
    "SensorSamples",
    "SensorProfile",
    "parse_sensor_json",
    "sensor_features",
    "build_sensor_profile",
    "check_sensors",
    "FEATURE_NAMES",
]

FEATURE_NAMES = ("tremor_ratio", "accel_noise", "orientation_std_deg", "drift_deg")
_FIELDS = ("t_ms", "ax", "ay", "az", "alpha", "beta", "gamma")
_MAX_ACCEL = 160.0  # m/s^2, 16 g: beyond any phone accelerometer
_LIMITS = {"alpha": (0.0, 360.0), "beta": (-180.0, 180.0), "gamma": (-90.0, 90.0)}
#: below this acceleration noise (m/s^2) a "phone" is static: a rig or an emulator.
#: Tuned on synthetic traces: hand-held 0.02-0.1, still rig on a table 0.002-0.004
#: (accelerometer quantisation noise), emulator 0.
STATIC_NOISE = 0.008
#: consistency threshold (score = exp(-mean squared robust z / 2) against the profile)
SENSOR_THRESHOLD = 0.05


@dataclass(frozen=True, eq=False)
class SensorSamples:
    """Validated device-motion samples.

    Attributes
    ----------
    t_s : np.ndarray [shape=(n,), float64]  seconds from the first sample
    accel : np.ndarray [shape=(n, 3), float64]  m/s^2 including gravity
    orientation : np.ndarray [shape=(n, 3), float64]  alpha, beta, gamma in degrees
    """

    t_s: np.ndarray
    accel: np.ndarray
    orientation: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.t_s.shape[0])

    def digest(self) -> str:
        """SHA-256 of the rounded samples (identifies a replayed trace)."""
        data = np.concatenate([np.diff(self.t_s, prepend=0.0)[:, None], self.accel, self.orientation], axis=1)
        return hashlib.sha256(np.round(data, 4).tobytes()).hexdigest()


def parse_sensor_json(data: str | bytes | list[Any] | dict[str, Any]) -> SensorSamples:
    """Parse and validate DeviceMotion-like JSON (format in the module docstring).

    Raises
    ------
    SensorDataError
        Not JSON, not a list of sample objects, missing or non-numeric fields, timestamps
        not strictly increasing, or impossible values (|a| > 16 g, angles out of range).
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SensorDataError(f"sensor data is not valid JSON ({exc.msg} at {exc.pos}); send a JSON list of samples") from None
    if isinstance(data, dict):
        data = data.get("samples")
    if not isinstance(data, list) or not data:
        raise SensorDataError(
            "sensor data must be a non-empty JSON list of {t_ms, ax, ay, az, alpha, beta, gamma} objects"
        )
    rows = np.empty((len(data), len(_FIELDS)), dtype=np.float64)
    for i, s in enumerate(data):
        if not isinstance(s, dict):
            raise SensorDataError(f"sensor sample {i} is a {type(s).__name__}; each sample must be an object with {_FIELDS}")
        for j, k in enumerate(_FIELDS):
            v = s.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise SensorDataError(f"sensor sample {i}: field {k!r} is {v!r}; pass a number for each of {_FIELDS}")
            rows[i, j] = float(v)
    if not np.all(np.isfinite(rows)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(rows), axis=1))[0])
        raise SensorDataError(f"sensor sample {bad} holds NaN or infinity; send finite numbers")
    dt = np.diff(rows[:, 0])
    if np.any(dt <= 0):
        bad = int(np.flatnonzero(dt <= 0)[0]) + 1
        raise SensorDataError(
            f"sensor timestamps are not strictly increasing at sample {bad} (t_ms {rows[bad - 1, 0]} then {rows[bad, 0]}); "
            "send samples in time order without duplicates"
        )
    mag = np.linalg.norm(rows[:, 1:4], axis=1)
    if np.any(mag > _MAX_ACCEL):
        bad = int(np.flatnonzero(mag > _MAX_ACCEL)[0])
        raise SensorDataError(f"sensor sample {bad}: acceleration {mag[bad]:.1f} m/s^2 is impossible (> 16 g); send m/s^2, not another unit")
    for j, k in enumerate(_FIELDS[4:], start=4):
        lo, hi = _LIMITS[k]
        out = (rows[:, j] < lo) | (rows[:, j] > hi)
        if np.any(out):
            bad = int(np.flatnonzero(out)[0])
            raise SensorDataError(f"sensor sample {bad}: {k}={rows[bad, j]} is outside {lo} to {hi} degrees")
    return SensorSamples(t_s=(rows[:, 0] - rows[0, 0]) / 1000.0, accel=rows[:, 1:4], orientation=rows[:, 4:7])


def sensor_features(samples: SensorSamples, *, rate_hz: float = 50.0) -> dict[str, float]:
    """Motion features (names in :data:`FEATURE_NAMES`); resampled to ``rate_hz`` first.

    Raises
    ------
    SensorDataError
        Less than 1 s of samples or a mean rate under 20 Hz.
    """
    from scipy import signal

    t = samples.t_s
    dur = float(t[-1]) if t.size else 0.0
    if t.size < 20 or dur < 1.0 or (t.size - 1) / dur < 20.0:
        raise SensorDataError(
            f"sensor trace has {t.size} samples over {dur:.2f} s; send at least 1 s at >= 20 Hz"
        )
    grid = np.arange(0.0, dur, 1.0 / rate_hz)
    acc = np.stack([np.interp(grid, t, samples.accel[:, k]) for k in range(3)], axis=1)
    ori = np.stack([np.interp(grid, t, samples.orientation[:, k]) for k in (1, 2)], axis=1)
    mag = np.linalg.norm(acc, axis=1)
    b, a = signal.butter(2, 1.0, btype="highpass", fs=rate_hz)
    hp = signal.filtfilt(b, a, mag) if mag.size > 15 else mag - mag.mean()
    f, pxx = signal.welch(mag - mag.mean(), fs=rate_hz, nperseg=min(128, mag.size))
    band = pxx[(f >= 8) & (f <= 12)].sum()
    total = pxx[(f >= 1) & (f <= 20)].sum()
    bl, al = signal.butter(2, 0.5, fs=rate_hz)
    slow = signal.filtfilt(bl, al, ori, axis=0) if ori.shape[0] > 15 else ori
    return {
        "tremor_ratio": float(band / total) if total > 0 else 0.0,
        "accel_noise": float(np.std(hp)),
        "orientation_std_deg": float(np.mean(np.std(ori, axis=0))),
        "drift_deg": float(np.max(np.ptp(slow, axis=0))),
    }


@dataclass(frozen=True, eq=False)
class SensorProfile:
    """A user's device-motion behaviour from enrolment sessions.

    Attributes
    ----------
    median_, scale_ : dict of str to float
        Per-feature median and robust spread (1.4826 MAD, floored at 20 % of the median)
        over the enrolment sessions.
    digests_ : tuple of str
        Digests of the enrolment traces (and of later accepted ones) to spot replays.
    n_sessions : int
    """

    median_: dict[str, float] = field(default_factory=dict)
    scale_: dict[str, float] = field(default_factory=dict)
    digests_: tuple[str, ...] = ()
    n_sessions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"type": "SensorProfile", "median": self.median_, "scale": self.scale_,
                "digests": list(self.digests_), "n_sessions": self.n_sessions}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SensorProfile:
        return cls(median_=dict(data["median"]), scale_=dict(data["scale"]),
                   digests_=tuple(data["digests"]), n_sessions=int(data["n_sessions"]))


def build_sensor_profile(sessions: list[SensorSamples]) -> SensorProfile:
    """Profile from at least 2 enrolment traces."""
    if len(sessions) < 2:
        raise SensorDataError(f"a sensor profile needs at least 2 enrolment sessions; got {len(sessions)}")
    feats = [sensor_features(s) for s in sessions]
    med, scale = {}, {}
    for k in FEATURE_NAMES:
        v = np.array([f[k] for f in feats])
        m = float(np.median(v))
        med[k] = m
        scale[k] = float(max(1.4826 * np.median(np.abs(v - m)), 0.2 * abs(m), 1e-6))
    return SensorProfile(median_=med, scale_=scale, digests_=tuple(s.digest() for s in sessions), n_sessions=len(sessions))


def check_sensors(
    samples: SensorSamples | None,
    profile: SensorProfile | None = None,
    *,
    threshold: float = SENSOR_THRESHOLD,
    static_noise: float = STATIC_NOISE,
) -> CheckResult:
    """Is the device motion that of a person holding a phone (and of this person)?

    Score: without a profile, ``min(1, accel_noise / (2 * static_noise))`` (1 = clearly
    hand-held); with one, ``exp(-mean(z^2) / 2)`` over the robust z-scores of the features
    against the profile. ``STATIC_DEVICE`` when ``accel_noise < static_noise`` (default
    0.008 m/s^2, tuned on synthetic traces, see module docstring);
    ``REPLAYED_TRACE`` when the trace's digest matches a stored one.

    ``samples=None`` (a desktop webcam without sensors) gives ``available=False`` with
    reason ``NO_SENSOR_DATA``; the policy decides.
    """
    if samples is None:
        return CheckResult(check="sensors", score=float("nan"), threshold=threshold, accepted=False,
                           reasons=("NO_SENSOR_DATA",), available=False, details={})
    feats = sensor_features(samples)
    reasons = []
    if feats["accel_noise"] < static_noise:
        reasons.append("STATIC_DEVICE")
    digest = samples.digest()
    if profile is not None and digest in profile.digests_:
        reasons.append("REPLAYED_TRACE")
    if profile is None:
        score = float(min(1.0, feats["accel_noise"] / (2.0 * static_noise)))
        thr = 0.5
        z = {}
    else:
        z = {k: (feats[k] - profile.median_[k]) / profile.scale_[k] for k in FEATURE_NAMES}
        score = float(np.exp(-np.mean([v * v for v in z.values()]) / 2.0))
        thr = threshold
        if score < thr:
            reasons.append("MOTION_UNLIKE_PROFILE")
    return CheckResult(
        check="sensors", score=score, threshold=thr, accepted=bool(score >= thr and not reasons),
        reasons=tuple(reasons), available=True, details={"features": feats, "z": z, "digest": digest},
    )
