"""Was the face inside the guide oval? Framing of a tracked take, with which way to move.

The browser page draws an oval over its camera preview and asks the person to keep their
face inside it. :func:`assess_framing` tells, from a :class:`~lipauth.types.LipTrack`
(the face box the tracker already found in every frame), how much of the take had the
face inside that oval and which way to move when it did not. :func:`preview_framing` does the same
for one picture of the live preview, before anything is recorded. The oval is given in
fractions of the recorded frame (:class:`Oval`); the page maps the oval it draws on its
cover-cropped, mirrored preview to those fractions.

Directions are the person's own: the camera sees the person as another person would, so
a face on the image's left is on the person's right and they should move to their left
(and in a mirrored preview, as selfie views are, their left is the screen's left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lipauth.errors import ConfigError
from lipauth.types import LipTrack, Video

__all__ = ["Oval", "Framing", "assess_framing", "preview_framing", "FACE_INSIDE", "MIN_IN_OVAL", "OFFSET", "SMALL_FACE", "LARGE_FACE"]

#: a frame has the face in the oval when at least this share of the face (the ellipse
#: inscribed in its face box) lies inside the oval: a face whose centre sits on the oval's
#: edge has about half of it outside; a centred face 1.2 times the oval's height has 0.7 inside
FACE_INSIDE = 0.7
#: a take is framed when at least this share of its frames has the face in the oval
MIN_IN_OVAL = 0.5
#: ``left``/``right``/``up``/``down`` when the face centre is off the oval centre by more
#: than this share of the oval's radius (median over the frames with a face)
OFFSET = 0.25
#: ``closer`` below this face-box height as a share of the oval's height (measured against the
#: page's oval: a MIRACL-VC1 F01 face 0.27, an HDTF talking head filmed for television 0.74)
SMALL_FACE = 0.45
#: ``back`` above this face-box height as a share of the oval's height (beyond it even a
#: centred face has less than :data:`FACE_INSIDE` of it inside)
LARGE_FACE = 1.2

#: points of the unit disk (a 9 x 9 grid, inside the circle): the face ellipse is sampled there
_GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)), axis=-1).reshape(-1, 2)
_DISK = _GRID[(_GRID**2).sum(axis=1) <= 1.0 + 1e-9]


@dataclass(frozen=True)
class Oval:
    """The guide oval, in fractions of the frame: centre ``(cx, cy)``, radii ``(rx, ry)``.

    ``cx`` and ``rx`` are fractions of the frame width, ``cy`` and ``ry`` of its height;
    ``(0, 0)`` is the top-left corner of the recorded (not mirrored) frame.
    """

    cx: float = 0.5
    cy: float = 0.57
    rx: float = 0.24
    ry: float = 0.34

    def __post_init__(self) -> None:
        vals = (self.cx, self.cy, self.rx, self.ry)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals):
            raise ConfigError(f"oval {vals} must hold four finite numbers cx, cy, rx, ry (fractions of the frame)")
        if not (0 <= self.cx <= 1 and 0 <= self.cy <= 1 and 0.02 <= self.rx <= 1 and 0.02 <= self.ry <= 1):
            raise ConfigError(f"oval cx={self.cx}, cy={self.cy}, rx={self.rx}, ry={self.ry}: the centre must lie in "
                              "the frame (0-1) and the radii be 0.02-1 of its width / height, e.g. 0.5, 0.57, 0.24, 0.34")

    @classmethod
    def from_dict(cls, data: Any) -> Oval:
        """``{"cx": .., "cy": .., "rx": .., "ry": ..}`` (:class:`ConfigError` when malformed)."""
        keys = ("cx", "cy", "rx", "ry")
        if not isinstance(data, dict) or set(data) != set(keys):
            raise ConfigError(f"oval must be an object with exactly the keys {', '.join(keys)}, e.g. "
                              '{"cx": 0.5, "cy": 0.57, "rx": 0.24, "ry": 0.34}')
        return cls(**{k: data[k] for k in keys})


@dataclass(frozen=True)
class Framing:
    """How a take was framed against the oval.

    Attributes
    ----------
    in_oval : float
        Share of the take's frames with the face in the oval (at least :data:`FACE_INSIDE`
        of it inside); frames without a face count as outside.
    face_inside : float
        Median share of the face inside the oval over the frames with a face.
    ok : bool
        ``in_oval >= MIN_IN_OVAL``: the face was in the oval for most of the take.
    move : tuple of str
        What would bring the face into the oval, in the person's own directions: ``left``,
        ``right``, ``up``, ``down``, ``closer``, ``back``; empty when nothing stands out.
    """

    in_oval: float
    face_inside: float
    ok: bool
    move: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"in_oval": round(self.in_oval, 3), "face_inside": round(self.face_inside, 3), "ok": self.ok,
                "move": list(self.move)}


def _inside_share(boxes: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """Share of each face ellipse (inscribed in ``boxes``, ``(n, 4)`` in frame fractions) inside ``oval``."""
    centre = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2
    half = (boxes[:, None, 2:] - boxes[:, None, :2]) / 2
    pts = centre + half * _DISK[None]  # (n, m, 2)
    u = (pts - oval[None, None, :2]) / oval[None, None, 2:]
    inside: np.ndarray = ((u**2).sum(axis=-1) <= 1.0).mean(axis=1)
    return inside


def assess_framing(track: LipTrack, oval: Oval | None = None) -> Framing:
    """How much of ``track`` had the face inside ``oval``, and which way to move.

    Parameters
    ----------
    track : LipTrack
        The tracked take (its ``face_box``, ``detected``, ``width``, ``height``).
    oval : Oval, optional
        Default: the page's oval on a 4:3 frame (``Oval()``).

    Returns
    -------
    Framing
    """
    oval = oval or Oval()
    n = track.n_frames
    ok_rows = track.detected & np.isfinite(track.face_box).all(axis=1)
    if n == 0 or not ok_rows.any() or track.width <= 0 or track.height <= 0:
        return Framing(in_oval=0.0, face_inside=0.0, ok=False)
    scale = np.array([track.width, track.height, track.width, track.height], dtype=np.float64)
    boxes = track.face_box[ok_rows].astype(np.float64) / scale
    o = np.array([oval.cx, oval.cy, oval.rx, oval.ry])
    share = _inside_share(boxes, o)
    in_oval = float((share >= FACE_INSIDE).sum()) / n
    dx = float(np.median(((boxes[:, 0] + boxes[:, 2]) / 2 - oval.cx) / oval.rx))
    dy = float(np.median(((boxes[:, 1] + boxes[:, 3]) / 2 - oval.cy) / oval.ry))
    height = float(np.median(boxes[:, 3] - boxes[:, 1])) / (2 * oval.ry)
    move: list[str] = []
    # the face on the image's left is on the person's right: they move to their left
    if abs(dx) > OFFSET:
        move.append("left" if dx < 0 else "right")
    if abs(dy) > OFFSET:
        move.append("down" if dy < 0 else "up")
    if height < SMALL_FACE:
        move.append("closer")
    elif height > LARGE_FACE:
        move.append("back")
    return Framing(in_oval=in_oval, face_inside=float(np.median(share)), ok=in_oval >= MIN_IN_OVAL, move=tuple(move))


def preview_framing(picture: Video, oval: Oval | None = None, *, backend: Any = None) -> tuple[bool, Framing]:
    """Framing of one picture of the live camera preview: is there a face, and which way to move.

    The page sends a small picture of its preview every second or so, before the person
    presses Start, so that the oval turns amber and says "move closer" while there is still
    time to move (:func:`assess_framing` judges a recorded take afterwards, by the same rules).

    Parameters
    ----------
    picture : Video
        One frame (:func:`lipauth.io.load_image`); a longer Video is judged on all its frames.
    oval : Oval, optional
    backend : LandmarkBackend, optional
        Default: MediaPipe FaceMesh (:func:`lipauth.tracking.track_lips`).

    Returns
    -------
    (face, framing) : (bool, Framing)
        ``face`` false when no face was found (``framing`` then says outside, nothing to move).
    """
    from lipauth.errors import NoFaceError
    from lipauth.tracking.track import track_lips

    try:
        track = track_lips(picture, backend=backend)
    except NoFaceError:
        return False, Framing(in_oval=0.0, face_inside=0.0, ok=False)
    return True, assess_framing(track, oval)
