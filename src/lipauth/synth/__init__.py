"""Synthetic talking-face clips with known ground truth (for tests and demos).

Built from a real face still that scikit-image ships (``skimage.data.astronaut()``): the
mouth is warped to follow a control signal (opening, width / pursing), the face is
framed at a chosen size, fps and resolution with optional head motion, lighting change
and noise, and muxed with synthetic voiced syllables, breath noise, a given sound or
silence. MediaPipe is not needed at run time: the still's landmarks are stored constants.

Example
-------
>>> from lipauth.synth import make_talking_clip
>>> clip = make_talking_clip("talk.mp4", duration_s=3.0, fps=30.0, seed=1)
>>> clip.opening.shape, clip.speech_intervals_s[:1]
"""

from __future__ import annotations

from lipauth.synth.clip import (
    SynthClip,
    face_affine,
    make_gap_clip,
    make_no_face_clip,
    make_still_clip,
    make_talking_clip,
    make_two_face_clip,
    write_clip,
)
from lipauth.synth.control import (
    VOWELS,
    Syllable,
    SyllableSchedule,
    blow_schedule,
    intervals_from_signal,
    random_syllable_schedule,
)
from lipauth.synth.face import ASTRONAUT_FACE_BOX, ASTRONAUT_LANDMARKS, MouthWarper, astronaut
from lipauth.synth.voice import blow_noise, voice_from_opening, voiced_syllables

__all__ = [
    "SynthClip",
    "make_talking_clip",
    "make_still_clip",
    "make_no_face_clip",
    "make_two_face_clip",
    "make_gap_clip",
    "write_clip",
    "face_affine",
    "random_syllable_schedule",
    "blow_schedule",
    "intervals_from_signal",
    "Syllable",
    "SyllableSchedule",
    "VOWELS",
    "voiced_syllables",
    "voice_from_opening",
    "blow_noise",
    "MouthWarper",
    "astronaut",
    "ASTRONAUT_LANDMARKS",
    "ASTRONAUT_FACE_BOX",
]
