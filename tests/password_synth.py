"""Synthetic lip-password takes: one control signal rendered at other speeds, scales, poses.

A "password" is a smooth mouth-opening/width trajectory over normalised time ``u`` in
[0, 1] (a few syllable bumps of given heights and vowel widths). :func:`render_take`
draws it with ``lipauth.synth.make_talking_clip`` over ``duration_s / speed`` seconds
between rests, so the same signal can be rendered faster, slower, smaller or with head
motion; :func:`tracked_take` tracks it and returns a
:class:`lipauth.checks.password.PasswordTake`. Results are cached per process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FPS = 25.0
REST_S = 0.4
#: two different passwords: (centre u, height, width) of each syllable bump
SIGNALS = {
    "A": ((0.12, 0.9, 0.6), (0.38, 0.35, -0.8), (0.62, 1.0, 0.2), (0.86, 0.5, 0.9)),
    "B": ((0.2, 0.4, -0.6), (0.5, 0.95, 0.9), (0.8, 0.7, -0.9)),
}


def control(signal: str, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Opening in [0, 1] and width in [-1, 1] over ``n_frames`` frames of the utterance."""
    u = np.linspace(0.0, 1.0, n_frames)
    opening = np.zeros(n_frames)
    width = np.zeros(n_frames)
    for centre, height, vowel in SIGNALS[signal]:
        bump = np.exp(-0.5 * ((u - centre) / 0.07) ** 2)
        opening = np.maximum(opening, height * bump)
        width += vowel * bump
    return np.clip(opening, 0, 1), np.clip(width, -1, 1)


def render_take(
    signal: str,
    *,
    speed: float = 1.0,
    duration_s: float = 1.4,
    face_width_px: float = 150.0,
    head_motion: bool = False,
    seed: int = 0,
    path: str | None = None,
):
    """A ``SynthClip`` of ``signal`` spoken at ``speed`` (1.25 = 25 % faster); written to ``path`` if given."""
    from lipauth.synth import make_talking_clip

    n_utt = int(round(duration_s / speed * FPS))
    n_rest = int(round(REST_S * FPS))
    o, w = control(signal, n_utt)
    opening = np.concatenate([np.zeros(n_rest), o, np.zeros(n_rest)])
    width = np.concatenate([np.zeros(n_rest), w, np.zeros(n_rest)])
    return make_talking_clip(
        path,
        duration_s=opening.size / FPS,
        fps=FPS,
        size=(320, 240),
        face_width_px=face_width_px,
        opening=opening,
        width=width,
        head_motion=head_motion,
        max_angle_deg=8.0,
        noise_std=2.0,
        audio=None,
        seed=seed,
    )


@lru_cache(maxsize=None)
def tracked_take(signal: str, speed: float = 1.0, face_width_px: float = 150.0, head_motion: bool = False, seed: int = 0):
    """``(video, take)`` for the rendered clip (tracked once per process)."""
    from lipauth.checks.password import prepare_take

    clip = render_take(signal, speed=speed, face_width_px=face_width_px, head_motion=head_motion, seed=seed)
    video = clip.to_video() if hasattr(clip, "to_video") else clip.video
    return video, prepare_take(video)
