"""The face still and the mouth warp that makes it talk.

The still is ``skimage.data.astronaut()`` (512x512 RGB, shipped with scikit-image). Its
landmark positions were measured once with MediaPipe FaceMesh (refined lips) and are
stored here as constants, so nothing here needs MediaPipe at run time.

The warp is a backward map (``cv2.remap``) confined to a box around the mouth. It splits
the face along the line between the lips: everything above moves up with the upper lip,
everything below moves down with the lower lip and (less) the jaw, and the gap that
opens between them is painted as a dark mouth cavity. The upper and lower teeth that the
still already shows between the lips travel with their lip, which gives the hint of
teeth. Width changes scale the mouth area horizontally about the mouth centre (pursed:
narrower and a little taller, spread: wider and a little thinner).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ASTRONAUT_LANDMARKS",
    "ASTRONAUT_FACE_BOX",
    "astronaut",
    "MouthWarper",
    "face_mask",
]

#: Landmarks of ``skimage.data.astronaut()`` in its own pixels ``(x, y)``, measured with
#: MediaPipe FaceMesh 0.10.21 (refine_landmarks=True); FaceMesh indices in comments.
ASTRONAUT_LANDMARKS: dict[str, tuple[float, float]] = {
    "lip_left": (201.8, 139.2),  # 61, outer corner on the image left
    "lip_right": (245.0, 141.0),  # 291
    "upper_lip_top": (223.6, 140.5),  # 0
    "lower_lip_bottom": (222.7, 154.6),  # 17
    "inner_upper_mid": (223.5, 143.2),  # 13
    "inner_lower_mid": (223.0, 150.1),  # 14
    "eye_left_outer": (195.2, 100.9),  # 33
    "eye_right_outer": (255.8, 104.3),  # 263
    "nose_tip": (223.4, 130.0),  # 1
    "chin": (221.3, 177.4),  # 152
}

#: Face box ``x0, y0, x1, y1`` of the still in its pixels (FaceMesh face oval).
ASTRONAUT_FACE_BOX: tuple[float, float, float, float] = (179.0, 71.0, 271.0, 177.0)

# the soft mask that cuts the head (face and hair) out of the still: ellipse centre, axes
_HEAD_CENTRE = (226.0, 112.0)
_HEAD_AXES = (72.0, 98.0)


@functools.lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """The face still [shape=(512, 512, 3), dtype=uint8, RGB], read-only."""
    from skimage import data

    img = np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=1)
def face_mask() -> np.ndarray:
    """Soft mask of the head in the still [shape=(512, 512), dtype=float32, 0..1].

    An ellipse around face and hair with a feathered edge of about 12 px; used to put the
    head on a plain or blurred background and to paste a second face.
    """
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    r = np.sqrt(((xx - _HEAD_CENTRE[0]) / _HEAD_AXES[0]) ** 2 + ((yy - _HEAD_CENTRE[1]) / _HEAD_AXES[1]) ** 2)
    feather = 12.0 / min(_HEAD_AXES)
    mask = np.clip((1.0 - r) / feather + 0.5, 0.0, 1.0).astype(np.float32)
    mask.setflags(write=False)
    return mask


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, cosine in between."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


@dataclass(frozen=True)
class _Geometry:
    xc: float  # mouth centre x (between the corners)
    half_width: float  # half the corner-to-corner distance
    corner_y: float  # mean corner height
    mid_y: float  # y of the line between the lips at xc
    upper_thick: float  # from the lip line up to the top of the upper lip
    lower_thick: float  # from the lip line down to the bottom of the lower lip
    chin_dist: float  # from the lip line down to the chin


def _geometry() -> _Geometry:
    lm = ASTRONAUT_LANDMARKS
    (xl, yl), (xr, yr) = lm["lip_left"], lm["lip_right"]
    mid_y = 0.5 * (lm["inner_upper_mid"][1] + lm["inner_lower_mid"][1])
    return _Geometry(
        xc=0.5 * (xl + xr),
        half_width=0.5 * (xr - xl),
        corner_y=0.5 * (yl + yr),
        mid_y=mid_y,
        upper_thick=mid_y - lm["upper_lip_top"][1],
        lower_thick=lm["lower_lip_bottom"][1] - mid_y,
        chin_dist=lm["chin"][1] - mid_y,
    )


class MouthWarper:
    """Close, open, purse and spread the mouth of the still; grids are computed once.

    The still smiles with parted lips (teeth show between them). ``opening=0`` closes
    the lips over the teeth (a thin dark seam where they meet); as ``opening`` grows the
    lips part, first showing the teeth that travel with each lip, then a dark cavity
    between the teeth.

    Parameters
    ----------
    upper_lift_px : float
        How far the middle of the upper lip rises above its place in the still at
        ``opening=1`` (still pixels).
    lower_drop_px : float
        How far the middle of the lower lip drops below its place in the still at
        ``opening=1``.
    jaw_fraction : float
        Fraction of ``lower_drop_px`` by which the chin follows at ``opening=1``.
    purse_narrow : float
        Relative narrowing of the mouth at ``width=-1`` (0.2: 20 % narrower).
    purse_round : float
        Fraction of the still's smile (corners above the middle) flattened at ``width=-1``,
        so pursed lips look round rather than smiling.
    spread_widen : float
        Relative widening at ``width=+1``.

    Notes
    -----
    The inner-lip gap in the middle of the mouth is ``opening * max_gap_px`` with
    ``max_gap_px`` about 21.4 still pixels by default (half the 43 px mouth width); the
    still itself corresponds to ``opening`` of about 0.32.
    """

    def __init__(
        self,
        *,
        upper_lift_px: float = 3.5,
        lower_drop_px: float = 11.0,
        jaw_fraction: float = 0.6,
        purse_narrow: float = 0.2,
        purse_round: float = 0.6,
        spread_widen: float = 0.15,
    ) -> None:
        g = _geometry()
        self.geometry = g
        lm = ASTRONAUT_LANDMARKS
        # the still's parted lips: inner edges above / below the line between them
        self.teeth_up_px = g.mid_y - lm["inner_upper_mid"][1]
        self.teeth_lo_px = lm["inner_lower_mid"][1] - g.mid_y
        self.upper_lift_px = float(upper_lift_px)
        self.lower_drop_px = float(lower_drop_px)
        self.max_gap_px = self.teeth_up_px + self.teeth_lo_px + self.upper_lift_px + self.lower_drop_px
        self.upper_share = (self.teeth_up_px + self.upper_lift_px) / self.max_gap_px
        self.jaw_fraction = float(jaw_fraction)
        self.purse_narrow = float(purse_narrow)
        self.purse_round = float(purse_round)
        self.spread_widen = float(spread_widen)
        # region of the still the warp may touch (identity on and beyond its border)
        x0 = int(np.floor(g.xc - 2.15 * (g.half_width + 3.0))) - 1
        x1 = int(np.ceil(g.xc + 2.15 * (g.half_width + 3.0))) + 2
        y0 = int(np.floor(g.mid_y - 30.0)) - 1
        y1 = int(np.ceil(g.mid_y + self.lower_drop_px + g.chin_dist + 22.0)) + 3
        self.roi = (x0, y0, x1, y1)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self._xx, self._yy = xx.astype(np.float64), yy.astype(np.float64)
        # weight of the width change: 1 on the mouth, fading out to twice its size
        ex, ey = g.half_width + 3.0, 14.0
        r = np.sqrt(((xx - g.xc) / ex) ** 2 + ((yy - g.mid_y) / ey) ** 2)
        self._width_weight = (1.0 - _smoothstep(r - 1.0)).astype(np.float64)
        self._neutral: np.ndarray | None = None

    # ----------------------------------------------------------------------------------

    def _line_y(self, u: np.ndarray) -> np.ndarray:
        """The line between the lips: a parabola through the corners and the middle."""
        g = self.geometry
        uc = np.clip(u, -1.0, 1.0)
        return g.mid_y + (g.corner_y - g.mid_y) * uc**2

    @staticmethod
    def _lip_profile(u: np.ndarray) -> np.ndarray:
        """Opening along the mouth: 1 in the middle, 0 at and beyond the corners."""
        return np.where(np.abs(u) < 1.0, np.clip(1.0 - np.clip(u, -1, 1) ** 2, 0.0, 1.0) ** 0.7, 0.0)

    def maps(self, opening: float, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backward maps and cavity alpha for one frame, over :attr:`roi`.

        Returns
        -------
        map_x, map_y : np.ndarray [shape=(roi_h, roi_w), dtype=float32]
            Source coordinates in the still for each pixel of the ROI.
        cavity : np.ndarray [shape=(roi_h, roi_w), dtype=float32]
            Alpha (0..1) of the dark mouth cavity (and of the seam of closed lips).
        """
        g = self.geometry
        xx, yy = self._xx, self._yy
        # 1. width: output -> intermediate (scale about the mouth centre, weighted)
        if width < 0:
            sx = 1.0 - self.purse_narrow * (-width)
            sy = 1.0 + 0.12 * (-width)
        else:
            sx = 1.0 + self.spread_widen * width
            sy = 1.0 - 0.05 * width
        if width != 0.0:
            wt = self._width_weight
            xi = g.xc + (xx - g.xc) * (1.0 + (1.0 / sx - 1.0) * wt)
            yi = g.mid_y + (yy - g.mid_y) * (1.0 + (1.0 / sy - 1.0) * wt)
            if width < 0 and self.purse_round > 0:
                # rounder: pull the (smiling, raised) corners down towards the middle
                ui = np.abs(xi - g.xc) / g.half_width
                along = np.where(ui <= 1.0, ui**2, 1.0 - _smoothstep((ui - 1.0) / 0.8))
                across = 1.0 - _smoothstep((np.abs(yi - g.mid_y) - 10.0) / 10.0)
                drop = self.purse_round * (-width) * (g.mid_y - g.corner_y)
                yi = yi - drop * along * across
        else:
            xi, yi = xx, yy
        # 2. lips: intermediate -> still
        u = (xi - g.xc) / g.half_width
        line = self._line_y(u)
        prof = self._lip_profile(u)
        gap = self.max_gap_px * opening * prof
        top = line - self.upper_share * gap  # inner edge of the upper lip (output)
        bottom = top + gap  # inner edge of the lower lip (output)
        teeth_up = self.teeth_up_px * prof  # teeth band of the still above / below the line
        teeth_lo = self.teeth_lo_px * prof
        src_top = line - teeth_up  # inner edge of the upper lip (still)
        src_bottom = line + teeth_lo
        # above the gap: the upper lip's inner edge goes from src_top to top, fading out
        # towards the nose
        d_up = top - yi
        f_up = 1.0 - _smoothstep((d_up - (g.upper_thick + 1.0)) / 10.0)
        src_up = yi + (src_top - top) * f_up
        # below the gap: the lower lip's inner edge goes from src_bottom to bottom, the
        # chin follows with a broad profile
        d_dn = yi - bottom
        shift_lip = bottom - src_bottom
        jaw_profile = 1.0 - _smoothstep((np.abs(xi - g.xc) - 20.0) / 24.0)
        shift_jaw = self.lower_drop_px * opening * jaw_profile
        blend = _smoothstep((d_dn - 2.0) / 12.0)
        shift = shift_lip + (shift_jaw - shift_lip) * blend
        lip_plateau = g.lower_thick + 1.0
        chin = g.chin_dist - g.lower_thick - 1.0  # from the lower lip plateau to the chin
        f_dn = np.where(
            d_dn < lip_plateau,
            1.0,
            np.where(
                d_dn < lip_plateau + chin,
                1.0 - (1.0 - self.jaw_fraction) * _smoothstep((d_dn - lip_plateau) / chin),
                self.jaw_fraction * (1.0 - _smoothstep((d_dn - lip_plateau - chin) / 22.0)),
            ),
        )
        src_dn = yi - shift * f_dn
        # inside the gap: teeth hang from each lip (as much as the still shows), a dark
        # cavity between them
        show_up = np.minimum(teeth_up, 0.5 * gap)
        show_lo = np.minimum(teeth_lo, 0.5 * gap)
        src_gap = np.where(yi < top + show_up, src_top + (yi - top), src_bottom - (bottom - yi))
        src_y = np.where(yi <= top, src_up, np.where(yi >= bottom, src_dn, src_gap))
        inside = np.minimum(yi - (top + show_up), (bottom - show_lo) - yi)
        cavity = np.clip(inside + 0.5, 0.0, 1.0) * (gap > 0.05)
        # the seam of (nearly) closed lips
        seam = 0.5 * np.sqrt(prof) * np.exp(-(((yi - top - 0.5 * gap) / 0.7) ** 2)) * (1.0 - np.clip(gap / 2.0, 0, 1))
        cavity = np.maximum(cavity, seam)
        return xi.astype(np.float32), src_y.astype(np.float32), cavity.astype(np.float32)

    def warp(self, image: np.ndarray, opening: float, width: float, *, out: np.ndarray | None = None) -> np.ndarray:
        """Return the still with its mouth opened by ``opening`` and shaped by ``width``.

        Parameters
        ----------
        image : np.ndarray [shape=(512, 512, 3), dtype=uint8]
            The still (:func:`astronaut`).
        opening : float
            0 (lips closed) to 1 (wide open).
        width : float
            -1 (pursed, rounded) to 1 (spread); 0 keeps the still's width.
        out : np.ndarray, optional
            Array to write into; only the warp's :attr:`roi` is written, so it must
            already hold ``image`` elsewhere (a copy of ``image`` is made otherwise).

        Returns
        -------
        np.ndarray [shape=(512, 512, 3), dtype=uint8]
        """
        x0, y0, x1, y1 = self.roi
        if out is None:
            out = image.copy()
        if opening == 0.0 and width == 0.0 and image is astronaut():
            if self._neutral is None:
                self._neutral = self._patch(image, 0.0, 0.0)
            out[y0:y1, x0:x1] = self._neutral
            return out
        out[y0:y1, x0:x1] = self._patch(image, float(opening), float(width))
        return out

    def _patch(self, image: np.ndarray, opening: float, width: float) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = self.roi
        map_x, map_y, cavity = self.maps(opening, width)
        patch = cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if cavity.max() > 0:
            patch = self._paint_cavity(patch, cavity)
        return patch

    @staticmethod
    def _paint_cavity(patch: np.ndarray, cavity: np.ndarray) -> np.ndarray:
        # darker towards the middle of the gap (the back of the mouth)
        colour = np.array([62.0, 22.0, 26.0], dtype=np.float32)
        rows = cavity.sum(axis=0)
        cum = np.cumsum(cavity, axis=0)
        pos = np.where(cavity > 0, cum / np.maximum(rows, 1e-6), 0.0)
        depth = 1.0 - 0.55 * np.sin(np.pi * np.clip(pos, 0.0, 1.0)) * np.clip(rows / 4.0, 0.0, 1.0)
        shade = colour[None, None, :] * depth[..., None]
        a = cavity[..., None]
        return (patch.astype(np.float32) * (1.0 - a) + shade * a + 0.5).astype(np.uint8)
