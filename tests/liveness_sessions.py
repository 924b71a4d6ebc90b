"""Synthetic challenge-response sessions for the liveness tests and benchmark.

A session is a synth face (``lipauth.synth.make_talking_clip``) that purses its lips in
the challenge's blow windows, with real exhale bursts from ``../shared/data/breathing``
placed in those windows (a human lag of 0.1-0.3 s), at a chosen loudness, optionally over
steady fan noise. Attacks change one ingredient (see :data:`ATTACKS`).

Exhale bursts: runs where the 100-ms energy envelope stays more than 10 dB above the
file's 10th-percentile level for at least 0.3 s and whose power is mostly below 1.5 kHz
(air hitting the microphone), longest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lipauth.challenge import Challenge
from lipauth.types import Audio

SR = 16000
#: breathing files used to build sessions (held out from the detector's tuning)
SESSION_BREATH_FILES = (
    "model_oddech_test_different_breathing.wav",
    "model_oddech_test_main_stopping_breathing3.wav",
    "model_oddech_walidate_main_audio_without_noise.wav",
)
ATTACKS = ("replay_new_challenge", "speech_instead", "sound_still_mouth", "pursed_no_sound", "photo_breath_audio")


def envelope_bursts(samples: np.ndarray, *, sample_rate: int = SR, min_s: float = 0.3, rise_db: float = 10.0) -> list[tuple[int, int]]:
    """``(start, end)`` sample indices of envelope bursts (definition in the module docstring)."""
    from scipy import ndimage

    hop = sample_rate // 100
    n = samples.size // hop
    e = 10 * np.log10(np.mean(samples[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-12)
    sm = ndimage.uniform_filter1d(e, 10)
    on = sm > np.percentile(sm, 10) + rise_db
    out = []
    i = 0
    while i < n:
        if on[i]:
            j = i
            while j + 1 < n and on[j + 1]:
                j += 1
            if (j - i + 1) / 100.0 >= min_s:
                out.append((i * hop, (j + 1) * hop))
            i = j + 1
        else:
            i += 1
    return out


def _low_share(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / SR)
    return float(spec[(f > 50) & (f < 1500)].sum() / max(spec[(f > 50) & (f < 8000)].sum(), 1e-20))


@lru_cache(maxsize=4)
def exhale_bursts(root: Path, files: tuple[str, ...] = SESSION_BREATH_FILES) -> tuple[np.ndarray, ...]:
    """Exhale bursts (float32 at 16 kHz, each at least 0.8 s) from the breathing files."""
    from lipauth.io import load_audio

    out = []
    for name in files:
        x = load_audio(root / name, sample_rate=SR).samples
        for a, b in envelope_bursts(x):
            seg = x[a:b]
            if seg.size >= 0.8 * SR and _low_share(seg) > 0.8:
                out.append(seg)
    out.sort(key=lambda s: -s.size)
    return tuple(out)


def fan_noise(n: int, rng: np.random.Generator, *, level_db: float) -> np.ndarray:
    """Steady fan noise: low-passed noise plus a 100-Hz hum with harmonics, RMS at ``level_db`` dBFS."""
    from scipy import signal

    b, a = signal.butter(2, 900, fs=SR)
    x = signal.lfilter(b, a, rng.standard_normal(n))
    t = np.arange(n) / SR
    x = x / np.std(x) + 0.5 * np.sin(2 * np.pi * 100 * t) + 0.25 * np.sin(2 * np.pi * 200 * t)
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)).astype(np.float32)


def breath_audio(
    windows: list[tuple[float, float]],
    duration_s: float,
    bursts: tuple[np.ndarray, ...],
    rng: np.random.Generator,
    *,
    level_db: float = -30.0,
    fan_db: float | None = None,
    lag_s: tuple[float, float] = (0.1, 0.3),
) -> Audio:
    """Real exhale bursts (synthetic blow noise when ``bursts`` is empty) placed in ``windows`` (RMS ``level_db`` dBFS), optional fan noise."""
    n = int(round(duration_s * SR))
    y = np.zeros(n, dtype=np.float64)
    for a, b in windows:
        start = a + rng.uniform(*lag_s)
        length = int((b - start + rng.uniform(-0.05, 0.15)) * SR)
        if not bursts:  # no real recordings: synthetic turbulent noise
            from lipauth.synth.voice import blow_noise

            burst = blow_noise([(0.0, length / SR)], duration_s=length / SR + 0.01, sample_rate=SR,
                               band_hz=(60.0, 2500.0), seed=int(rng.integers(1 << 30))).astype(np.float64)
        else:
            burst = bursts[int(rng.integers(len(bursts)))].astype(np.float64)
        while burst.size < length:  # long window: join two bursts
            burst = np.concatenate([burst, bursts[int(rng.integers(len(bursts)))]])
        seg = burst[:length] / (np.sqrt(np.mean(burst[:length] ** 2)) + 1e-12) * 10 ** (level_db / 20)
        ramp = min(int(0.05 * SR), length // 4)
        fade = np.ones(length)
        fade[:ramp] = np.linspace(0, 1, ramp)
        fade[-ramp:] = np.linspace(1, 0, ramp)
        i0 = int(start * SR)
        seg = (seg * fade)[: max(0, n - i0)]
        y[i0 : i0 + seg.size] += seg
    if fan_db is not None:
        y += fan_noise(n, rng, level_db=fan_db)
    else:
        y += 1e-4 * rng.standard_normal(n)  # microphone self-noise
    return Audio(samples=np.clip(y, -1, 1).astype(np.float32), sample_rate=SR, start_s=0.0, codec="pcm_f32le", source="<session>")


def make_session(
    challenge: Challenge,
    bursts: tuple[np.ndarray, ...],
    *,
    seed: int = 0,
    mouth: str = "blow",
    sound: str = "breath",
    level_db: float = -30.0,
    fan_db: float | None = None,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    face_width_px: float = 150,
    extra_s: float = 0.4,
    always: bool = False,
):
    """A synth clip answering ``challenge``.

    mouth : "blow" (pursed in the windows), "still" (neutral throughout), "speak"
        (random syllables instead of blowing), "photo" (a still image).
    sound : "breath" (real exhale bursts in the windows), "silence", "speech" (voiced syllables).
    always : blow (mouth and sound) from 0.3 s to the end instead of in the windows.
    extra_s : seconds of rest after the schedule (a replayed answer is padded this way).
    """
    from lipauth.synth import make_talking_clip
    from lipauth.synth.clip import make_still_clip
    from lipauth.synth.control import blow_schedule

    rng = np.random.default_rng(seed)
    windows = challenge.prompt_windows("blow") or challenge.prompt_windows()
    duration = challenge.duration_s + extra_s
    if always:
        windows = [(0.3, duration - 0.1)]
    n = int(round(duration * fps))
    t = np.arange(n) / fps
    if sound == "breath":
        audio = breath_audio(windows, duration, bursts, rng, level_db=level_db, fan_db=fan_db)
    elif sound == "silence":
        x = 1e-4 * rng.standard_normal(int(duration * SR))
        if fan_db is not None:
            x = x + fan_noise(x.size, rng, level_db=fan_db)
        audio = Audio(samples=x.astype(np.float32), sample_rate=SR, source="<session>")
    elif sound == "speech":
        audio = "syllables"
    else:
        raise ValueError(sound)
    common = dict(duration_s=duration, fps=fps, size=size, face_width_px=face_width_px, seed=seed)
    if mouth == "photo":
        return make_still_clip(audio=audio, **common)
    if mouth == "blow":
        # human lag: the lips follow the prompt 0.1-0.2 s late
        lag = float(rng.uniform(0.1, 0.2))
        opening, width = blow_schedule([(a + lag, min(b + lag, duration - 0.05)) for a, b in windows], t)
        return make_talking_clip(opening=opening, width=width, audio=audio, noise_std=2.0, **common)
    if mouth == "still":
        return make_talking_clip(opening=np.zeros(n), width=np.zeros(n), audio=audio, noise_std=2.0, **common)
    if mouth == "speak":
        return make_talking_clip(audio=audio, noise_std=2.0, **common)
    raise ValueError(mouth)


def motion_trace(kind: str, *, seed: int = 0, duration_s: float = 6.0, rate_hz: float = 60.0, tremor_gain: float = 1.0) -> list[dict]:
    """Synthetic DeviceMotion samples: ``"hand"`` (8-12 Hz tremor + slow drift + sensor
    noise), ``"rig"`` (still on a table: quantisation-level noise only), ``"emulator"``
    (constant values)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz + rng.uniform(0, 0.002, n)
    t[0] = 0.0
    g = np.array([0.0, 6.9, 6.9])  # phone tilted 45 degrees towards the face
    acc = np.tile(g, (n, 1))
    beta = np.full(n, 45.0)
    gamma = np.zeros(n)
    if kind == "hand":
        f = rng.uniform(8.5, 11.5)
        amp = tremor_gain * rng.uniform(0.04, 0.1)
        for k in range(3):
            acc[:, k] += amp * np.sin(2 * np.pi * (f + rng.normal(0, 0.3)) * t + rng.uniform(0, 6.28))
        acc += rng.normal(0, 0.01, (n, 3))
        drift = np.cumsum(rng.normal(0, 0.05, n))
        beta += 2.0 * np.sin(2 * np.pi * 0.2 * t) + drift
        gamma += 1.5 * np.sin(2 * np.pi * 0.13 * t + 1) + 0.1 * rng.standard_normal(n)
    elif kind == "rig":
        acc += np.round(rng.normal(0, 0.003, (n, 3)) / 0.0024) * 0.0024
    elif kind != "emulator":
        raise ValueError(kind)
    beta = np.clip(beta, -180, 180)
    return [
        {"t_ms": float(1000 * t[i]), "ax": float(acc[i, 0]), "ay": float(acc[i, 1]), "az": float(acc[i, 2]),
         "alpha": 10.0, "beta": float(beta[i]), "gamma": float(gamma[i])}
        for i in range(n)
    ]


def make_speech_session(challenge: Challenge, *, seed: int = 0, extra_s: float = 0.4, mouth: str = "speak",
                        sound: str = "syllables", lag_s: float | None = None):
    """A synth face answering a speech challenge: fluent speech (voiced syllables with matching
    lip motion) in the speak windows, resting between them.

    The person reacts to each prompt with one reaction lag (0.1-0.25 s per session, +-0.04 s
    per edge): speech starts with a word at the window start + lag and stops (mid-word or in
    a pause between words) at the window end + lag; words of 1-4 syllables (0.15-0.3 s)
    with pauses of 0.05-0.2 s between them (reading a prompted text aloud).

    mouth : "speak" (on schedule), "always" (speaking throughout), "still" (neutral mouth).
    sound : "syllables" (the synth voice following the lips) or "silence".
    """
    from lipauth.synth import make_talking_clip
    from lipauth.synth.control import random_syllable_schedule

    rng = np.random.default_rng(seed)
    fps = 25.0
    dur = round((challenge.duration_s + extra_s) * fps) / fps
    t = np.arange(round(dur * fps)) / fps
    lag = float(rng.uniform(0.1, 0.25)) if lag_s is None else lag_s
    if mouth == "always":
        on = t >= 0.3
        spoken = random_syllable_schedule(dur, seed=seed).opening_at(t) * on
    else:
        spoken = np.zeros(t.size)
        for i, (a, b) in enumerate(challenge.prompt_windows("speak")):
            start = a + lag + float(rng.uniform(-0.04, 0.04))
            stop = b + lag + float(rng.uniform(-0.04, 0.04))
            words = random_syllable_schedule(b - a + 1.0, seed=seed * 100 + i, lead_in_s=0.0, rest_s=(0.05, 0.2))
            inside = (t >= start) & (t < stop)
            spoken[inside] = words.opening_at(t[inside] - start)
    opening = np.zeros(t.size) if mouth == "still" else spoken
    audio = "syllables" if sound == "syllables" else "silence"
    if mouth == "still" and sound == "syllables":  # voice on schedule, mouth still
        from lipauth.synth.voice import voice_from_opening

        audio = voice_from_opening(spoken, t, duration_s=dur, sample_rate=SR)
    return make_talking_clip(opening=opening, audio=audio, duration_s=dur, fps=fps, size=(320, 240),
                             face_width_px=150, seed=seed, noise_std=2.0)


# ---------------------------------------------------------------------------------------
# Real answer sessions for the timed-speech (and blow) challenge, built from real clips.
#
# Every real talking clip in ../shared/data (GRID s1, the two talking heads, the people of
# av_speakers/), by person, as lip features (landmarks: shape and its velocity) and audio.
# A session is a new time line cut from one person's own clips, in feature space: the
# person's real speech pieces (voice and lips of the same moment) placed in the windows of a
# fresh challenge, real rest between them. Nothing is tracked again: frames are gathered
# from the clips' features and the lip-motion energy and segments are recomputed on the
# session (the segmentation's noise floor is clip-level).
# ---------------------------------------------------------------------------------------

REAL_CACHE = Path("/tmp/lipauth_sync_cache")
#: left out: two faces on screen; all-zero audio (MEAD female, male2, M030's 256-px clip)
REAL_EXCLUDED_SPEAKERS = ("two_faces",)
#: a person needs this much voiced speech (10-ms WebRTC voice activity) over their clips
REAL_MIN_SPEECH_S = 3.5
#: shortest stretch of own rest (voice off, no lip-motion segment, face found), seconds
REAL_MIN_REST_S = 0.3
#: own rest is used only when the person's stretches add up to this much (seconds): a single
#: short stretch played back and forth for seconds is not a person resting (measured:
#: the one 0.33-s stretch of hdtf_ng turned the whole session into one lip-motion segment).
#: In this data only GRID s1 (85 stretches, silences before and after each sentence) has it.
REAL_MIN_OWN_REST_TOTAL_S = 1.0
#: jitter of the held still frame, by shape feature: the std of the frame-to-frame change of
#: the tracked shape in GRID s1's silences (median over 85 rest stretches, face units); the
#: held frame gets independent noise of HELD_JITTER_SCALE * that / sqrt(2) per frame
HELD_JITTER = {
    "opening": 0.0002, "width": 0.0015, "inner_area": 0.0001, "outer_area": 0.0004, "aspect_ratio": 0.0018,
    "roundness": 0.0027, "upper_thickness": 0.0006, "lower_thickness": 0.0006, "left_corner_x": 0.0009,
    "left_corner_y": 0.0007, "right_corner_x": 0.0010, "right_corner_y": 0.0008,
}
#: x2: a tracked face at rest also drifts slowly; with x2 the held frame's median motion
#: energy (0.036 face units/s) matches GRID s1's rest (0.037), which the segmentation sees
HELD_JITTER_SCALE = 2.0
#: per-coordinate jitter (std, face units) of the held frame's lip landmarks: GRID s1's
#: silences change the unsmoothed landmarks by 0.00196 from frame to frame (median) / sqrt(2)
HELD_LANDMARK_JITTER = 0.0014


def load_real_clips(data: Path, *, cache: Path | None = REAL_CACHE, people: set[str] | None = None) -> list[tuple]:
    """``(name, person, LipFeatures, Audio, path)`` of every usable clip of the sync corpus.

    The corpus, its cache and its exclusions (two faces, all-zero audio) are those of
    ``scripts/sync_data.py``; the features carry the track's lip landmarks.
    """
    import dataclasses
    import sys

    scripts = str(Path(__file__).resolve().parents[1] / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from sync_data import load_corpus

    out = []
    for c in load_corpus(data, cache=cache, people=people):
        if c.person in REAL_EXCLUDED_SPEAKERS:
            continue
        feats = dataclasses.replace(c.features, landmarks=c.landmarks) if c.landmarks is not None else c.features
        out.append((c.name, c.person, feats, c.audio, c.path))
    return out


def _grid_words(path: Path) -> list[tuple[float, float, str]] | None:
    align = path.parent.parent / "align" / f"{path.stem}.align"
    if not align.is_file():
        return None
    out = []
    for line in align.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3:
            out.append((int(parts[0]) / 25000.0, int(parts[1]) / 25000.0, parts[2]))
    return out


def _energy_cuts(audio: Audio, lo: float, hi: float) -> np.ndarray:
    """Syllable/word boundaries in ``[lo, hi]``: local minima of the 50-ms smoothed 10-ms log energy
    at least 6 dB under the peaks on either side (prominence), at least 0.15 s apart; stretches
    over 0.6 s split at their lowest energy."""
    from scipy import ndimage, signal

    hop = audio.sample_rate // 100
    x = audio.samples.astype(np.float64)
    n = x.size // hop
    e = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-10)
    e = ndimage.uniform_filter1d(e, 5)
    te = audio.start_s + 0.01 * (np.arange(n) + 0.5)
    idx, _ = signal.find_peaks(-e, distance=15, prominence=6.0)
    idx = idx[(te[idx] > lo + 0.1) & (te[idx] < hi - 0.1)]
    cuts = [lo, *te[idx].tolist(), hi]
    # fast connected speech has few 6-dB dips: split any stretch longer than 0.6 s at its lowest
    # energy (a weaker syllable boundary), so that a person may stop within about a word, as in GRID
    out = [cuts[0]]
    for a, b in zip(cuts[:-1], cuts[1:]):
        stack = [(a, b)]
        while stack:
            x, y = stack.pop()
            if y - x <= 0.6:
                out.append(y)
                continue
            m = (te > x + 0.15) & (te < y - 0.15)
            c = float(te[m][np.argmin(e[m])])
            stack += [(c, y), (x, c)]
    return np.array(sorted(set(out)))


@dataclass
class RealPerson:
    """One person's material: clips, speech stretches with their cut points, rest stretches.

    speech : list of (clip index, cut points in seconds): a speech stretch may start at any
        cut point and stop at any later one (GRID: word boundaries from the align files;
        others: energy minima between syllables inside the voiced part of the clip).
    rest : list of (clip index, start_s, end_s): the person's own rest (voice off, no
        lip-motion segment, face found, at least :data:`REAL_MIN_REST_S`); empty when the
        data has none (then :func:`real_session` holds the person's stillest frame).
    """

    person: str
    clips: list
    speech: list
    rest: list
    speech_s: float
    fps: float

    @property
    def own_rest(self) -> bool:
        return bool(self.rest)


def real_people(data: Path, *, cache: Path | None = REAL_CACHE) -> dict[str, RealPerson]:
    """Every person with at least :data:`REAL_MIN_SPEECH_S` of speech, by id."""
    from collections import defaultdict

    from lipauth.checks.speech import _lip_moving
    from lipauth.features.audio import voice_activity

    groups: dict[str, list] = defaultdict(list)
    for item in load_real_clips(data, cache=cache):
        groups[item[1]].append(item)
    out = {}
    for person, items in sorted(groups.items()):
        clips, speech, rest, speech_s, steps = [], [], [], 0.0, []
        for k, (name, _p, feats, audio, path) in enumerate(items):
            clips.append((name, feats, audio))
            t = feats.timestamps_s
            steps.append(float(np.median(np.diff(t))))
            vad = np.asarray(voice_activity(audio, frame_s=0.01), dtype=bool)
            speech_s += 0.01 * vad.sum()
            words = _grid_words(path) if person == "grid_s1" else None
            tv = audio.start_s + 0.01 * np.arange(vad.size)
            if words is not None:
                spoken = [(a, b) for a, b, w in words if w != "sil"]
                runs = [(spoken[0][0], spoken[-1][1])] if spoken else []
                if spoken:
                    speech.append((k, np.array(sorted({a for a, _ in spoken} | {b for _, b in spoken}))))
            else:
                # speech runs: strict voice activity (mode 3), pauses <= 0.25 s bridged, >= 0.5 s long
                from lipauth.checks.blow import _runs

                strict = np.asarray(voice_activity(audio, frame_s=0.01, aggressiveness=3), dtype=bool)
                runs = [(max(lo, float(t[0])), min(hi, float(t[-1])))
                        for lo, hi in _runs(tv[: strict.size], strict, merge_gap_s=0.25, min_run_s=0.5)]
                speech += [(k, _energy_cuts(audio, lo, hi)) for lo, hi in runs if hi - lo >= 0.5]
            if not runs:
                continue
            # own rest: before the first and after the last speech run only (the person waiting to
            # speak or done speaking; a pause inside running speech is not rest), on the 10-ms
            # voice grid: quiet, lips still (nearest frame), face found; 0.05 s trimmed off both
            # ends (a breath or a lip smack next to the stretch stays out)
            fi = np.clip(np.searchsorted(t, tv + 0.005) - 1, 0, t.size - 1)
            inside = (tv >= t[0]) & (tv + 0.01 <= t[-1] + steps[-1])
            inside &= (tv + 0.01 <= runs[0][0] - 0.1) | (tv >= runs[-1][1] + 0.1)
            quiet = ~vad & ~_lip_moving(feats)[fi] & feats.valid[fi] & inside
            edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0]))
            for a, b in zip(edges[::2], edges[1::2]):
                lo, hi = float(tv[a]) + 0.05, float(tv[b - 1]) + 0.01 - 0.05
                if hi - lo >= REAL_MIN_REST_S:
                    rest.append((k, lo, hi))
        if sum(b - a for _k, a, b in rest) < REAL_MIN_OWN_REST_TOTAL_S:
            rest = []
        if speech_s >= REAL_MIN_SPEECH_S and speech:
            out[person] = RealPerson(person, clips, speech, rest, speech_s, 1.0 / float(np.median(steps)))
    return out


#: a piece of a session's time line: [t0, t1) of the session taken from clip ``clip`` at
#: ``src`` seconds (played backwards when ``rev``); clip -1 = the person's held still frame
_Piece = tuple  # (t0, t1, clip, src, rev)


def _rest_pieces(person: RealPerson, t0: float, t1: float, rng: np.random.Generator) -> list:
    """Fill ``[t0, t1)`` with the person's own rest stretches (forwards and backwards in turn), or the held frame."""
    out = []
    if not person.rest:
        return [(t0, t1, -1, 0.0, False)] if t1 > t0 else []
    t = t0
    k, a, b = person.rest[int(rng.integers(len(person.rest)))]
    rev = bool(rng.integers(2))
    while t < t1 - 1e-9:
        take = min(b - a, t1 - t)
        src = (b if rev else a)
        out.append((t, t + take, k, src, rev))
        t += take
        rev = not rev  # ping-pong inside one rest stretch: no jump between clips in a rest
    return out


def _speech_piece(person: RealPerson, length_s: float, rng: np.random.Generator) -> list:
    """Speech of about ``length_s``: start at a cut point, stop at the cut point nearest the target (the
    person finishes the word in progress); when a stretch is too short, the next one follows it."""
    out, done = [], 0.0
    while done < length_s - 0.12:
        k, cuts = person.speech[int(rng.integers(len(person.speech)))]
        starts = cuts[:-1][cuts[-1] - cuts[:-1] >= 0.3]
        if starts.size == 0:
            continue
        s0 = float(starts[int(rng.integers(starts.size))])
        later = cuts[cuts > s0 + 0.15]
        s1 = float(later[np.argmin(np.abs(later - (s0 + length_s - done)))])
        out.append((done, done + s1 - s0, k, s0, False))
        done += s1 - s0
    return out


def real_timeline(person: RealPerson, windows: list[tuple[float, float]], duration_s: float, rng: np.random.Generator, *,
                  lag_s: tuple[float, float] = (0.1, 0.3), always: bool = False) -> tuple[list, list]:
    """Speech pieces answering ``windows`` (one reaction lag per session, +-0.04 s per edge) and rest pieces between.

    Returns (speech pieces, rest pieces), each a list of ``(t0, t1, clip, src, rev)``.
    """
    lag = float(rng.uniform(*lag_s))
    if always:
        spans = [(0.3, duration_s - 0.05)]
    else:
        spans = [(a + lag + float(rng.uniform(-0.04, 0.04)), b + lag + float(rng.uniform(-0.04, 0.04))) for a, b in windows]
    speech, t = [], 0.0
    rest: list = []
    for a, b in spans:
        rel = _speech_piece(person, b - a, rng)
        end = min(a + rel[-1][1], duration_s)
        rest += _rest_pieces(person, t, a, rng)
        speech += [(a + p0, min(a + p1, end), k, s, r) for p0, p1, k, s, r in rel if a + p0 < end]
        t = end
    rest += _rest_pieces(person, t, duration_s, rng)
    return speech, rest


def _held_frame(person: RealPerson) -> tuple[np.ndarray, float]:
    """The person's stillest frame: (shape, motion energy, lip landmarks), lowest energy among the least open quarter."""
    best = None
    for _name, f, _a in person.clips:
        v = f.valid
        if not v.any():
            continue
        opening = f.column("opening")
        ok = v & (opening <= np.percentile(opening[v], 25))
        i = np.flatnonzero(ok)[np.argmin(f.motion_energy[ok])]
        if best is None or f.motion_energy[i] < best[1]:
            lm = f.landmarks[i] if f.landmarks.shape[0] == f.n_frames else np.zeros((40, 2), np.float32)
            best = (f.shape[i].astype(np.float64), float(f.motion_energy[i]), lm)
    return best


def render_real(person: RealPerson, video: list, audio: list, duration_s: float, rng: np.random.Generator, *,
                fps: float | None = None):
    """Gather the session's frames (``video`` pieces) and samples (``audio`` pieces) into LipFeatures and Audio.

    Frames: nearest source frame for every session frame time (a uniform grid at the
    person's frame rate); shape and velocity come from the source (negated velocity when
    played backwards), so a cut adds no velocity spike; energy and segments are recomputed
    with the default :class:`lipauth.features.extract.FeatureConfig`. A held rest holds the
    nearest real frame of the session with tracker-like jitter (:data:`HELD_JITTER`,
    :data:`HELD_LANDMARK_JITTER`) and the quiet room's -70 dBFS noise.
    """
    from lipauth.features.extract import FeatureConfig
    from lipauth.features.segment import motion_energy, segment_motion
    from lipauth.types import LipFeatures

    fps = fps or (person.fps if abs(person.fps - round(person.fps)) < 0.2 and person.fps >= 20 else 25.0)
    n = int(round(duration_s * fps))
    t = np.arange(n) / fps
    names = person.clips[0][1].shape_names
    shape = np.zeros((n, len(names)))
    vel = np.zeros((n, len(names)))
    valid = np.zeros(n, dtype=bool)
    # lip landmarks only when every clip has them (the sync check reads them)
    with_lm = all(c[1].landmarks.shape[0] == c[1].n_frames and c[1].n_frames > 0 for c in person.clips)
    lms = np.zeros((n, 40, 2) if with_lm else (0, 40, 2), np.float32)
    held_mask = np.zeros(n, dtype=bool)
    for t0, t1, k, src, rev in video:
        m = (t >= t0 - 1e-9) & (t < t1 - 1e-9)
        if not m.any():
            continue
        if k < 0:
            sd = np.array([HELD_JITTER_SCALE * HELD_JITTER.get(c, 0.001) / np.sqrt(2.0) for c in names])
            jit = rng.normal(0.0, 1.0, (int(m.sum()), len(names))) * sd
            shape[m] = jit  # the held mouth is added below
            if with_lm:
                lms[m] = rng.normal(0.0, HELD_LANDMARK_JITTER, (int(m.sum()), 40, 2))
            vel[m] = np.gradient(jit, 1.0 / fps, axis=0) if m.sum() > 1 else 0.0
            valid[m] = True
            held_mask |= m
            continue
        f = person.clips[k][1]
        st = src - (t[m] - t0) if rev else src + (t[m] - t0)
        idx = np.clip(np.searchsorted(f.timestamps_s, st), 0, f.n_frames - 1)
        prev = np.clip(idx - 1, 0, f.n_frames - 1)
        idx = np.where(np.abs(f.timestamps_s[prev] - st) < np.abs(f.timestamps_s[idx] - st), prev, idx)
        shape[m] = f.shape[idx]
        if with_lm:
            lms[m] = f.landmarks[idx]
        vel[m] = -f.velocity[idx] if rev else f.velocity[idx]
        valid[m] = f.valid[idx]
    if held_mask.any():
        # the held mouth is the nearest real frame of the session (the mouth as it is just before
        # the person speaks or just after), so a rest joins its speech without a jump; a session
        # with no real frame holds the person's stillest frame
        real = np.flatnonzero(~held_mask)
        if real.size:
            hi = np.flatnonzero(held_mask)
            pos = np.clip(np.searchsorted(real, hi), 0, real.size - 1)
            left = real[np.clip(pos - 1, 0, real.size - 1)]
            near = np.where(np.abs(left - hi) < np.abs(real[pos] - hi), left, real[pos])
            shape[hi] += shape[near]
            if with_lm:
                lms[hi] += lms[near]
        else:
            still = _held_frame(person)
            shape[held_mask] += still[0]
            if with_lm:
                lms[held_mask] += still[2]
    y = np.zeros(int(round(duration_s * SR)))
    ramp = int(0.005 * SR)  # 5-ms cross-fade between pieces: a cut makes neither a click nor a dip
    for t0, t1, k, src, rev in audio:
        i0, i1 = int(round(t0 * SR)), min(int(round(t1 * SR)), y.size)
        if i1 <= i0:
            continue
        n_take = i1 - i0 + (ramp if i1 < y.size else 0)
        if k < 0:
            seg = 10 ** (-70 / 20) * rng.standard_normal(n_take)
        else:
            a = person.clips[k][2]
            j0 = int(round((src - a.start_s) * a.sample_rate))
            x = a.samples.astype(np.float64)
            if rev:
                seg = x[max(0, j0 - n_take) : max(0, j0)][::-1]
            else:
                seg = x[max(0, j0) : max(0, j0) + n_take]
            seg = seg.copy()
        if i0 > 0:
            r = min(ramp, seg.size)
            seg[:r] *= np.linspace(0.0, 1.0, r)
        if seg.size > i1 - i0:
            r = seg.size - (i1 - i0)
            seg[i1 - i0 :] *= np.linspace(1.0, 0.0, r)
        seg = seg[: y.size - i0]
        y[i0 : i0 + seg.size] += seg
    cfg = FeatureConfig()
    energy = motion_energy(vel, valid, t, window_s=cfg.energy_window_s)
    segs = segment_motion(energy, t, shape, valid, k_high=cfg.k_high, k_low=cfg.k_low, min_high=cfg.min_high,
                          min_low=cfg.min_low, min_duration_s=cfg.min_duration_s, min_gap_s=cfg.min_gap_s,
                          normal_amplitude=cfg.normal_amplitude)
    feats = LipFeatures(
        timestamps_s=t, valid=valid, shape=shape.astype(np.float32), velocity=vel.astype(np.float32),
        acceleration=np.gradient(vel, 1.0 / fps, axis=0).astype(np.float32), motion_energy=energy.astype(np.float32),
        similarity=np.zeros(0, np.float32), flow=np.zeros((0, 0), np.float32), histograms=np.zeros((0, 0), np.float32),
        histogram_times_s=np.zeros(0), shape_names=names, segments=tuple(tuple(s) for s in segs), config=cfg.to_dict(),
        landmarks=lms,
    )
    return feats, Audio(samples=y.astype(np.float32), sample_rate=SR, start_s=0.0, codec="pcm_f32le", source="<real session>")


#: kinds of real session: the genuine answer and the attacks built from the same pieces
REAL_KINDS = ("genuine", "still_face_voice", "lips_no_sound", "speaking_always", "dubbed")


def real_session(person: RealPerson, windows: list[tuple[float, float]], duration_s: float, *, seed: int,
                 kind: str = "genuine"):
    """A real answer session of ``person`` for ``windows`` (speak or blow windows of a challenge).

    kind : "genuine" (speech pieces in the windows, own rest between), "still_face_voice"
        (the same voice, the lips at rest throughout), "lips_no_sound" (the same lips, the rest's
        sound throughout), "speaking_always" (speech from 0.3 s to the end), "dubbed" (the lips of
        one genuine answer, the voice of another drawn with the same reaction lag: both on
        schedule, lips and voice from different moments; what the sync check is for).
    Returns (LipFeatures, Audio).
    """
    rng = np.random.default_rng(seed)
    if kind == "dubbed":
        lag = float(rng.uniform(0.1, 0.3))
        sv, rv = real_timeline(person, windows, duration_s, np.random.default_rng(seed + 1), lag_s=(lag, lag))
        sa, ra = real_timeline(person, windows, duration_s, np.random.default_rng(seed + 2), lag_s=(lag, lag))
        return render_real(person, sv + rv, sa + ra, duration_s, rng)
    speech, rest = real_timeline(person, windows, duration_s, rng, always=kind == "speaking_always")
    if kind in ("genuine", "speaking_always"):
        video = audio = speech + rest
    elif kind == "still_face_voice":
        video, audio = _rest_pieces(person, 0.0, duration_s, rng), speech + rest
    elif kind == "lips_no_sound":
        video, audio = speech + rest, _rest_pieces(person, 0.0, duration_s, rng)
    else:
        raise ValueError(kind)
    return render_real(person, video, audio, duration_s, rng)
