"""Shared result types: JSON round trips and NaN handling."""

from __future__ import annotations

import json

import numpy as np

from lipauth.types import Audio, CheckResult, LipTrack


def test_check_result_round_trip_through_json() -> None:
    result = CheckResult(check="sync", score=0.8, threshold=0.5, accepted=True, reasons=("AV_DESYNC",),
                         details={"offset_ms": 40.0})
    back = CheckResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert back.to_dict() == result.to_dict() and back.reasons == ("AV_DESYNC",)


def test_unavailable_check_has_no_nan_in_json() -> None:
    result = CheckResult(check="sensors", available=False, reasons=("NO_SENSOR_DATA",))
    text = json.dumps(result.to_dict(), allow_nan=False)  # NaN would raise here
    back = CheckResult.from_dict(json.loads(text))
    assert np.isnan(back.score) and not back.available and back.reasons == ("NO_SENSOR_DATA",)


def test_lip_track_round_trip_keeps_gaps_as_nan() -> None:
    n = 3
    lm = np.zeros((n, 40, 2), np.float32)
    lm[1] = np.nan
    track = LipTrack(
        timestamps_s=np.arange(n) / 25.0, detected=np.array([True, False, True]),
        face_box=np.zeros((n, 4), np.float32), labial_box=np.zeros((n, 4), np.float32),
        landmarks_px=lm, landmarks_norm=lm.copy(), pose=np.zeros((n, 3), np.float32),
        quality=np.zeros(n, np.uint8), n_faces=np.ones(n, np.uint8), width=64, height=48, backend="x",
    )
    back = LipTrack.from_dict(json.loads(json.dumps(track.to_dict(), allow_nan=False)))
    assert back.landmarks_px.dtype == np.float32 and np.isnan(back.landmarks_px[1]).all()
    assert np.array_equal(back.detected, track.detected) and back.width == 64


def test_audio_times_are_on_the_video_axis() -> None:
    audio = Audio(samples=np.zeros(1600, np.float32), sample_rate=16000, start_s=-0.25)
    assert audio.duration_s == 0.1 and audio.end_s == -0.15
    assert audio.times_s()[0] == -0.25
