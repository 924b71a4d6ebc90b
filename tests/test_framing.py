"""Framing against the page's guide oval (lipauth.tracking.framing): share of the take in the oval, which way to move."""

from __future__ import annotations

import numpy as np
import pytest

from lipauth.errors import ConfigError
from lipauth.tracking.framing import Oval, assess_framing
from lipauth.types import LipTrack

W, H = 640, 480


def _track(cx: float, cy: float, h: float, *, n: int = 20, detected: np.ndarray | None = None) -> LipTrack:
    """A track whose face box (0.8 as wide as tall, ``h`` of the frame height) is centred at ``(cx, cy)`` (fractions)."""
    half_w, half_h = 0.4 * h * H, 0.5 * h * H
    box = np.array([cx * W - half_w, cy * H - half_h, cx * W + half_w, cy * H + half_h], np.float32)
    det = np.ones(n, bool) if detected is None else detected
    boxes = np.where(det[:, None], box[None], np.nan).astype(np.float32)
    nan = np.full((n, 40, 2), np.nan, np.float32)
    return LipTrack(timestamps_s=np.arange(n) / 25.0, detected=det, face_box=boxes, labial_box=boxes.copy(),
                    landmarks_px=nan, landmarks_norm=nan.copy(), pose=np.zeros((n, 3), np.float32),
                    quality=np.zeros(n, np.uint8), n_faces=det.astype(np.uint8), width=W, height=H)


def test_a_face_filling_the_oval_is_framed() -> None:
    f = assess_framing(_track(0.5, 0.57, 0.55))
    assert f.ok and f.in_oval == 1.0 and f.face_inside > 0.95 and f.move == ()
    assert f.to_dict() == {"in_oval": 1.0, "face_inside": f.to_dict()["face_inside"], "ok": True, "move": []}


@pytest.mark.parametrize(("cx", "cy", "move"), [
    (0.2, 0.57, ("left",)),   # on the image's left = the person's right: they move to their left
    (0.8, 0.57, ("right",)),
    (0.5, 0.25, ("down",)),
    (0.5, 0.85, ("up",)),
    (0.22, 0.3, ("left", "down")),
])
def test_half_the_face_outside_is_not_framed_and_says_which_way(cx: float, cy: float, move: tuple[str, ...]) -> None:
    f = assess_framing(_track(cx, cy, 0.5))
    assert not f.ok and f.in_oval == 0.0 and f.face_inside < 0.7
    assert f.move == move


def test_size_advice() -> None:
    small = assess_framing(_track(0.5, 0.57, 0.18))  # a MIRACL-VC1-sized face: inside the oval, but far away
    assert small.ok and small.move == ("closer",)
    big = assess_framing(_track(0.5, 0.57, 0.95))
    assert not big.ok and big.move == ("back",)


def test_frames_without_a_face_count_as_outside() -> None:
    det = np.zeros(20, bool)
    det[:8] = True
    f = assess_framing(_track(0.5, 0.57, 0.55, detected=det))
    assert f.in_oval == pytest.approx(0.4) and not f.ok and f.face_inside > 0.95
    none = assess_framing(_track(0.5, 0.57, 0.55, detected=np.zeros(20, bool)))
    assert none.to_dict() == {"in_oval": 0.0, "face_inside": 0.0, "ok": False, "move": []}


def test_another_oval() -> None:
    f = assess_framing(_track(0.2, 0.5, 0.4), Oval(cx=0.2, cy=0.5, rx=0.15, ry=0.3))
    assert f.ok and f.move == ()


@pytest.mark.parametrize("data", [
    None, [0.5, 0.5, 0.2, 0.3], {"cx": 0.5, "cy": 0.5, "rx": 0.2}, {"cx": 0.5, "cy": 0.5, "rx": 0.2, "ry": 0.3, "x": 1},
    {"cx": "0.5", "cy": 0.5, "rx": 0.2, "ry": 0.3}, {"cx": 1.5, "cy": 0.5, "rx": 0.2, "ry": 0.3},
    {"cx": 0.5, "cy": 0.5, "rx": 0.0, "ry": 0.3}, {"cx": float("nan"), "cy": 0.5, "rx": 0.2, "ry": 0.3},
    {"cx": True, "cy": 0.5, "rx": 0.2, "ry": 0.3},
])
def test_bad_ovals_are_refused(data) -> None:
    with pytest.raises(ConfigError, match="oval"):
        Oval.from_dict(data)


# ---- one picture of the live preview (preview_framing, io.load_image) ----------------------


def _astronaut_png() -> bytes:
    import cv2
    from skimage import data

    return cv2.imencode(".png", data.astronaut()[..., ::-1])[1].tobytes()


def test_load_image_reads_a_picture_and_refuses_what_is_not_one(tmp_path) -> None:
    from skimage import data

    from lipauth.errors import EmptyMediaError, NotAnImageError
    from lipauth.io import load_image, write_video

    picture = load_image(_astronaut_png())
    assert picture.n_frames == 1 and picture.frames.shape == (1, 512, 512, 3)
    assert np.array_equal(picture.frames[0], data.astronaut())  # PNG is lossless, RGB order kept
    with pytest.raises(NotAnImageError, match="not a picture"):
        load_image(b"plain text, not a picture")
    clip = write_video(tmp_path / "clip.mp4", np.zeros((10, 64, 64, 3), np.uint8), fps=10)
    with pytest.raises(NotAnImageError, match="not a picture"):
        load_image(clip)
    with pytest.raises(EmptyMediaError):
        load_image(b"")


def test_preview_framing_finds_the_face_and_says_which_way_to_move() -> None:
    from lipauth.io import load_image
    from lipauth.tracking.framing import Oval, preview_framing
    from lipauth.types import Video

    picture = load_image(_astronaut_png())
    face, framing = preview_framing(picture)  # her face is small and high in the still: the page's oval misses it
    assert face and not framing.ok and {"down", "closer"} <= set(framing.move)
    face, framing = preview_framing(picture, Oval(cx=0.44, cy=0.245, rx=0.12, ry=0.13))
    assert face and framing.ok and framing.move == ()
    blank = Video(frames=np.full((1, 240, 320, 3), 100, np.uint8), timestamps_s=np.zeros(1), width=320, height=240)
    face, framing = preview_framing(blank)
    assert not face and not framing.ok and framing.move == ()
