"""Challenge-response liveness accuracy: BPCER / APCER per attack, breath recall, GRID false
blow rate, device-motion separation.

    .venv/bin/python benchmarks/accuracy_liveness.py [--seeds 4] [--attack-seeds 8]

Sessions (tests/liveness_sessions.py): synth face 150 px in 320x240 at 25 fps pursing its
lips in the windows of a fresh blow challenge, real exhale bursts from the held-out
breathing files in the windows (0.1-0.3 s late), at -24/-30/-36 dBFS, with and without
steady fan noise at -55 dBFS. Attacks: a genuine session checked against a new challenge;
speech (voiced syllables, moving mouth) instead of blowing; the blow sound with a still
mouth; pursed lips on schedule with no sound; a still photo with the breath audio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
DATA = ROOT.parent / "shared" / "data"

from liveness_sessions import (  # noqa: E402
    SR,
    envelope_bursts,
    exhale_bursts,
    make_session,
    motion_trace,
)

from lipauth.challenge import new_challenge  # noqa: E402
from lipauth.checks.blow import check_blow  # noqa: E402
from lipauth.checks.sensors import build_sensor_profile, check_sensors, parse_sensor_json, sensor_features  # noqa: E402
from lipauth.features import extract_lip_features  # noqa: E402
from lipauth.features.breath import breath_frames  # noqa: E402
from lipauth.io import load_audio  # noqa: E402
from lipauth.tracking import track_lips  # noqa: E402

KEY = "benchmark-key-0123456789"


def _feats(clip):
    return extract_lip_features(track_lips(clip.to_video()))


def sessions(n_seeds: int, n_attack: int, n_replay: int = 10) -> None:
    bursts = exhale_bursts(DATA / "breathing")
    rows = []
    genuine_scores = []
    rejected = 0
    total = 0
    replay_acc = 0
    replay_scores = []
    for level in (-24.0, -30.0, -36.0):
        for fan in (None, -55.0):
            for s in range(n_seeds):
                seed = 1000 + s + int(-level) * 10 + (0 if fan is None else 5000)
                ch = new_challenge("blow", rng=seed, key=KEY)
                clip = make_session(ch, bursts, seed=seed, level_db=level, fan_db=fan)
                f = _feats(clip)
                r = check_blow(f, clip.audio, ch)
                total += 1
                rejected += int(not r.accepted)
                genuine_scores.append(r.score)
                if not r.accepted:
                    print(f"  genuine rejected: level {level} fan {fan} seed {seed} {r.reasons} {r.details['audio_coverage']}")
                for k in range(n_replay):  # the same answer against fresh challenges
                    other = new_challenge("blow", rng=seed * 100 + k + 1, key=KEY)
                    rr = check_blow(f, clip.audio, other)
                    replay_acc += int(rr.accepted)
                    replay_scores.append(rr.score)
                    if rr.accepted:
                        print(f"  replay accepted: {ch.windows} answered {other.windows}")
    rows.append(("genuine (BPCER)", total, rejected / total, np.median(genuine_scores), np.min(genuine_scores)))
    rows.append(("replay vs new challenge (APCER)", len(replay_scores), replay_acc / len(replay_scores),
                 np.nanmedian(replay_scores), np.nanmax(replay_scores)))
    attacks = {
        "speech instead of blowing": dict(mouth="speak", sound="speech"),
        "blow sound, still mouth": dict(mouth="still"),
        "pursed mouth, no sound": dict(sound="silence"),
        "still photo + breath audio": dict(mouth="photo"),
    }
    for name, kw in attacks.items():
        acc = 0
        scores = []
        for s in range(n_attack):
            seed = 9000 + s
            ch = new_challenge("blow", rng=seed, key=KEY)
            clip = make_session(ch, bursts, seed=seed, level_db=(-24.0, -30.0, -36.0)[s % 3],
                                fan_db=None if s % 2 else -55.0, **kw)
            r = check_blow(_feats(clip), clip.audio, ch)
            acc += int(r.accepted)
            scores.append(r.score)
        rows.append((f"{name} (APCER)", n_attack, acc / n_attack, np.median(scores), np.max(scores)))
    print("\n| sessions | n | rate | median score | worst score |\n|---|---|---|---|---|")
    for name, n, rate, med, worst in rows:
        print(f"| {name} | {n} | {100 * rate:.1f}% | {med:.2f} | {worst:.2f} |")
    print("(threshold 0.50; worst = lowest genuine / highest attack score; a replay against a longer "
          "challenge is CLIP_TOO_SHORT with no score)")


def breath() -> None:
    print("\n| breathing file | split | bursts | detected |\n|---|---|---|---|")
    for path in sorted((DATA / "breathing").glob("model_oddech_*.wav")):
        audio = load_audio(path, sample_rate=SR)
        bf = breath_frames(audio)
        bursts = envelope_bursts(audio.samples)
        hit = sum(
            int((bf.probability[(bf.times_s >= a / SR) & (bf.times_s < b / SR)] >= 0.5).mean() >= 0.5) for a, b in bursts
        )
        split = "tune" if "_learn_" in path.name else "report"
        print(f"| {path.name} | {split} | {len(bursts)} | {hit} ({100 * hit / max(len(bursts), 1):.0f}%) |")
    clips = sorted((DATA / "grid_s1" / "video").glob("*.mpg"))
    for lo, hi, split in ((0, 40, "tune"), (40, len(clips), "report")):
        share = [(breath_frames(load_audio(p)).probability >= 0.5).mean() for p in clips[lo:hi]]
        print(f"GRID s1 clips {lo}-{hi - 1} ({split}): blow-like frames mean {100 * np.mean(share):.2f}%, "
              f"worst clip {100 * np.max(share):.2f}%")


def sensors(n: int = 20) -> None:
    feats = {k: [sensor_features(parse_sensor_json(motion_trace(k, seed=s))) for s in range(n)] for k in ("hand", "rig", "emulator")}
    print("\n| trace | n | accel noise m/s^2 (min-max) | tremor ratio (median) | accepted |\n|---|---|---|---|---|")
    for k, fs in feats.items():
        noise = [f["accel_noise"] for f in fs]
        acc = sum(check_sensors(parse_sensor_json(motion_trace(k, seed=s))).accepted for s in range(n))
        print(f"| {k} | {n} | {min(noise):.4f}-{max(noise):.4f} | {np.median([f['tremor_ratio'] for f in fs]):.2f} | {acc}/{n} |")
    gap = min(f["accel_noise"] for f in feats["hand"]) / max(f["accel_noise"] for f in feats["rig"])
    print(f"separation: weakest hand-held noise / strongest rig noise = {gap:.1f}x (static threshold 0.008)")
    profile = build_sensor_profile([parse_sensor_json(motion_trace("hand", seed=100 + s)) for s in range(5)])
    own = [check_sensors(parse_sensor_json(motion_trace("hand", seed=s)), profile) for s in range(n)]
    replay = [check_sensors(parse_sensor_json(motion_trace("hand", seed=100 + s)), profile) for s in range(5)]
    print(f"with a 5-session profile: hand-held accepted {sum(r.accepted for r in own)}/{n} "
          f"(scores {min(r.score for r in own):.2f}-{max(r.score for r in own):.2f}); "
          f"replayed enrolment traces flagged {sum('REPLAYED_TRACE' in r.reasons for r in replay)}/5")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4, help="genuine sessions per loudness/fan condition")
    ap.add_argument("--attack-seeds", type=int, default=8, help="sessions per attack type")
    ap.add_argument("--sessions-only", action="store_true", help="skip the audio and sensor tables")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if not DATA.exists():
        sys.exit(f"real data not present at {DATA}")
    if not args.sessions_only:
        breath()
        sensors()
    sessions(args.seeds, args.attack_seeds)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
