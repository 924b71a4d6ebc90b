"""lipauth.io on real third-party media from ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from lipauth.errors import NoAudioStreamError, NoVideoStreamError, StillImageError
from lipauth.io import load_audio, load_video

pytestmark = pytest.mark.realdata


def test_grid_mpg() -> None:
    path = shared_path("grid_s1", "video", "bbaf2n.mpg")
    video = load_video(path)
    assert video.n_frames == 75
    assert (video.width, video.height) == (360, 288)
    assert video.codec == "mpeg1video"
    assert video.nominal_fps == pytest.approx(25.0)
    np.testing.assert_allclose(video.timestamps_s, np.arange(75) / 25.0, atol=1e-3)
    audio = load_audio(path)  # MP2 44.1 kHz stereo -> 16 kHz mono
    assert audio.codec == "mp2" and audio.sample_rate == 16000 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(3.0, abs=0.05)
    assert audio.start_s == pytest.approx(0.0, abs=0.005)
    # channels are averaged, not summed: a loud recording is not pushed into clipping
    assert np.mean(np.abs(audio.samples) >= 0.999) < 1e-3
    lazy = load_video(path.read_bytes(), lazy=True)
    np.testing.assert_array_equal(lazy.timestamps_s, video.timestamps_s)


def test_miracl_mp4_has_no_audio() -> None:
    path = shared_path("miracl_f01", "F01_phrase01_rep01.mp4")
    video = load_video(path)
    assert (video.width, video.height) == (640, 480)
    assert video.nominal_fps == pytest.approx(15.0)
    assert video.n_frames >= 5
    with pytest.raises(NoAudioStreamError, match=r"F01_phrase01_rep01\.mp4: no audio stream; record with a microphone"):
        load_audio(path)


def test_talking_head_aac_16k() -> None:
    path = shared_path("talking_heads", "WDA_KatieHill_000.mp4")
    video = load_video(path, lazy=True)
    assert (video.width, video.height) == (512, 512)
    assert video.n_frames == 200 and video.nominal_fps == pytest.approx(25.0)
    audio = load_audio(path)
    assert audio.codec == "aac"
    assert audio.duration_s == pytest.approx(8.0, abs=0.1)
    assert audio.start_s == pytest.approx(0.0, abs=0.005)
    assert 0.01 < float(np.sqrt(np.mean(audio.samples**2))) < 0.5  # real speech, not silence


def test_talking_face_without_audio() -> None:
    path = shared_path("misc", "talking_face_no_audio.mp4")
    video = load_video(path, lazy=True)
    assert (video.width, video.height) == (256, 256)
    assert video.nominal_fps == pytest.approx(30.0)
    assert video.duration_s == pytest.approx(9.0, abs=0.2)
    with pytest.raises(NoAudioStreamError, match=r"talking_face_no_audio\.mp4: no audio stream"):
        load_audio(path)


def test_stage_clip_audio_starts_before_video() -> None:
    """The first video frame is at 0.852 s in the container clock, audio at 0.008 s."""
    path = shared_path("misc", "stage_singing_multi_face.mp4")
    video = load_video(path, lazy=True)
    assert video.start_time_s == pytest.approx(0.852, abs=0.002)
    assert video.nominal_fps == pytest.approx(29.97, abs=0.01)
    audio = load_audio(path)
    assert audio.start_s == pytest.approx(0.008 - 0.852, abs=0.002)


def test_breathing_wav() -> None:
    path = shared_path("breathing", "one_microphone_recordings_inhale1.wav")
    audio = load_audio(path)  # 44.1 kHz mono PCM -> 16 kHz
    assert audio.sample_rate == 16000 and audio.start_s == 0.0 and audio.codec == "pcm_s16le"
    assert audio.duration_s == pytest.approx(4.0, abs=0.05)
    with pytest.raises(NoVideoStreamError, match=r"inhale1\.wav: no video stream"):
        load_video(path)


def test_live_face_jpg_is_still() -> None:
    path = shared_path("spoof", "live_face.jpg")
    with pytest.raises(StillImageError, match=r"live_face\.jpg: is a still image .*lipauth needs a video clip of at least"):
        load_video(path)
