"""Personal lip commands on MIRACL-VC1 F01 (6 phrases x 10 takes): accuracy report.

    .venv/bin/python benchmarks/accuracy_commands.py [--splits 30] [--tune] [--no-fusion] [--metric-weight 0.3] [--micro-warp 0.3]

Closed set: 3 or 5 random enrolment takes per phrase, accuracy on the other takes,
averaged over random splits, with the confusion matrix (3 takes). Open set: one phrase left
out of the vocabulary, its takes should be answered "none"; the cohort threshold is tuned
(--tune) with phrases 01-03 left out in turn (10 splits) and reported with phrases 04-06 left
out (10 splits). Confidences: the softmax temperature is fitted (--tune) on the test takes
of phrases 01-03 and its calibration (ECE) reported on those of phrases 04-06. Micro
movement: the same clips with the labial motion attenuated by
``features.magnify.magnify_labial`` (gain 0.3 in its band, which measures ~0.65x on the
tracked inner-lip opening range, and gain 0.05, which measures ~0.35x: the tracker's noise
floor) and re-tracked; "no utterance" is relative to the vocabulary's enrolled takes
(``take_motion``), so no attenuated take is silenced.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "miracl_f01"
_SEQUENCE = None  # --three-channels: the sequences of the lip password (no jaw, no deep maps)


def load_takes(*, attenuate: float | None = None, warp: float | None = None) -> tuple[list[tuple], np.ndarray]:
    """(track, features, crops, deep lip maps) of every MIRACL F01 take, and the phrase numbers.

    ``attenuate``: labial motion attenuated by ``magnify_labial(factor=attenuate)``;
    ``warp``: lip motion scaled geometrically by ``attenuate_lip_motion(factor=warp)``;
    either way the clip is re-tracked.
    """
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.features.deep import DeepLipEncoder, deep_lip_frames
    from lipauth.features.magnify import attenuate_lip_motion, magnify_labial
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    files = sorted(DATA.glob("F01_phrase0[1-6]_rep*.mp4"))
    takes, labels = [], []
    encoder = DeepLipEncoder()
    for f in files:
        video = load_video(f)
        track = track_lips(video)
        if attenuate is not None or warp is not None:
            if warp is not None:
                frames = np.stack(list(attenuate_lip_motion(video, track, factor=warp)))
            else:
                frames = np.stack(list(magnify_labial(video, track, factor=attenuate)))
            video = dataclasses.replace(video, frames=frames)
            track = track_lips(video)
        feats = extract_lip_features(track, video)
        deep = deep_lip_frames(video, track, frames=np.flatnonzero(feats.valid & track.detected), encoder=encoder)
        takes.append((track, feats, labial_crops(video, track), deep))
        labels.append(int(f.name[10:12]))
    return takes, np.array(labels)


def sequences(takes: list[tuple], config=None) -> list[tuple[np.ndarray, float]]:
    """Each take's sequence and its motion (``take_motion``: the relative "no utterance" gate)."""
    from lipauth.checks.commands import COMMANDS_SEQUENCE, take_motion
    from lipauth.features.sequence import utterance_frames, utterance_sequence

    cfg = config or _SEQUENCE or COMMANDS_SEQUENCE
    return [(utterance_sequence(tr, fe, cr, config=cfg, deep=dp), take_motion(cr, utterance_frames(fe))) for tr, fe, cr, dp in takes]


def _rec(vocab, item: tuple[np.ndarray, float], config):
    from lipauth.checks.commands import recognise

    return recognise(vocab, item[0], motion=item[1], config=config)


def enrol(seqs, labels, idx, words, seq_config=None):
    from lipauth.checks.commands import COMMANDS_SEQUENCE, CommandsConfig, Vocabulary

    vocab = Vocabulary("bench", seq_config or _SEQUENCE or COMMANDS_SEQUENCE)
    for w in words:
        take_idx = [i for i in idx if labels[i] == w]
        # an outlying or hardly moving enrolment take would be refused by the CLI; here it is kept
        vocab.add_word(f"phrase{w:02d}", [seqs[i][0] for i in take_idx], motions=[seqs[i][1] for i in take_idx],
                       config=CommandsConfig(max_inconsistency=100.0, min_relative_motion=0.0))
    return vocab


def splits(labels, k, n_splits, seed=1):
    rng = np.random.default_rng(seed)
    for _ in range(n_splits):
        enrol_idx = []
        for w in sorted(set(labels.tolist())):
            enrol_idx += rng.choice(np.flatnonzero(labels == w), k, replace=False).tolist()
        test = sorted(set(range(len(labels))) - set(enrol_idx))
        yield enrol_idx, test


def closed_set(seqs, labels, k, n_splits, config, seq_config=None):
    """(mean accuracy, confusion with "none", top-ranked confusion, answers "no utterance")."""
    words = sorted(set(labels.tolist()))
    accs, conf = [], np.zeros((6, 7), dtype=int)  # last column: none
    top = np.zeros((6, 6), dtype=int)
    silent = 0
    for enrol_idx, test in splits(labels, k, n_splits):
        vocab = enrol(seqs, labels, enrol_idx, words, seq_config)
        ok = 0
        for i in test:
            r = _rec(vocab, seqs[i], config)
            conf[labels[i] - 1, (int(r.word[-2:]) - 1) if r.word else 6] += 1
            if not r.ranking:  # "no utterance": counted as an error
                silent += 1
                continue
            best = int(r.ranking[0][0][-2:])  # closed set: the top-ranked word
            ok += best == labels[i]
            top[labels[i] - 1, best - 1] += 1
        accs.append(ok / len(test))
    return float(np.mean(accs)), conf, top, silent


def open_set_rows(seqs, labels, left_out, n_splits, config, k=3):
    """(is the take's phrase left out, top-ranked word right, relative distance) of every test take,
    recognised once without rejection: any ``reject_cohort`` is then a threshold on the relative distance."""
    never = dataclasses.replace(config, reject_cohort=100.0)
    rows = []
    for out in left_out:
        words = [w for w in range(1, 7) if w != out]
        for enrol_idx, test in splits(labels, k, n_splits, seed=out):
            vocab = enrol(seqs, labels, [i for i in enrol_idx if labels[i] != out], words)
            for i in test:
                r = _rec(vocab, seqs[i], never)
                if r.ranking:  # "no utterance": neither rejected nor right
                    rows.append((labels[i] == out, r.ranking[0][0] == f"phrase{labels[i]:02d}", r.details["relative_distance"]))
                else:
                    rows.append((labels[i] == out, False, -1.0))
    return rows


def open_set_rates(rows, reject_cohort: float) -> tuple[float, float]:
    """(rejection rate of the left-out phrase, accuracy in vocabulary incl. false rejections)."""
    rej = [rel > reject_cohort for out, _, rel in rows if out]
    acc = [right and 0 <= rel <= reject_cohort for out, right, rel in rows if not out]
    return float(np.mean(rej)), float(np.mean(acc))


def open_set(seqs, labels, left_out, n_splits, config, k=3):
    """(rejection rate of the left-out phrase, accuracy in vocabulary incl. false rejections)."""
    return open_set_rates(open_set_rows(seqs, labels, left_out, n_splits, config, k), config.reject_cohort)


def _closed_rows(seqs, labels, k, n_splits, config, seed=7):
    """(true phrase, CommandResult) of every test take over random closed-set splits."""
    words = sorted(set(labels.tolist()))
    rows = []
    for enrol_idx, test in splits(labels, k, n_splits, seed=seed):
        vocab = enrol(seqs, labels, enrol_idx, words)
        rows += [(int(labels[i]), _rec(vocab, seqs[i], config)) for i in test]
    return rows


def _confidence_of(result, phrase: int) -> float:
    return next((c for w, c, _ in result.ranking if w == f"phrase{phrase:02d}"), 0.0)


def fit_temperature(seqs, labels, phrases, n_splits, config) -> float:
    """Maximum-likelihood softmax temperature on the test takes of ``phrases`` (3 and 5 takes)."""
    rows = [r for k in (3, 5) for r in _closed_rows(seqs, labels, k, n_splits, config) if r[0] in phrases]
    best = None
    for t in np.exp(np.linspace(np.log(0.005), np.log(0.5), 41)):
        nll = 0.0
        for p, res in rows:  # the softmax of recognise(), recomputed from its distances
            dist = np.array([d for _, _, d in res.ranking])
            logits = -dist / (res.details["cohort_distance"] * t)
            logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            nll -= logp[[w for w, _, _ in res.ranking].index(f"phrase{p:02d}")]
        if best is None or nll < best[0]:
            best = (nll, float(t))
    return best[1]


def calibration(rows, n_bins: int = 10) -> tuple[float, float, float]:
    """(expected calibration error, mean top confidence, top-1 accuracy) of ``_closed_rows``."""
    conf = np.array([res.ranking[0][1] for _, res in rows])
    ok = np.array([res.ranking[0][0] == f"phrase{p:02d}" for p, res in rows])
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = sum((bins == b).mean() * abs(conf[bins == b].mean() - ok[bins == b].mean()) for b in range(n_bins) if (bins == b).any())
    return float(ece), float(conf.mean()), float(ok.mean())


def _add(rows: list, row: tuple[str, str]) -> None:
    rows.append(row)
    print(f"  {row[0]}: {row[1]}", flush=True)


def main() -> None:
    from lipauth.checks.commands import CommandsConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", type=int, default=30)
    ap.add_argument("--ablation", action="store_true", help="only: closed-set accuracy of channel subsets / DTW variants")
    ap.add_argument("--attenuate", type=float, nargs="*", default=[0.3, 0.05],
                    help="magnify_labial factors for the micro-movement rows (0.05 measures ~0.3x opening range)")
    ap.add_argument("--micro-warp", type=float, nargs="*", default=None,
                    help="build the micro takes with features.magnify.attenuate_lip_motion (geometric) at these "
                         "factors instead of the magnifier (README row: --micro-warp 0.3)")
    ap.add_argument("--metric-weight", type=float, default=None,
                    help="CommandsConfig.metric_weight (the opt-in vocabulary metric; README row: 0.3 with --tune)")
    ap.add_argument("--no-fusion", action="store_true",
                    help="one DTW over the concatenated channels (CommandsConfig(fusion_weights=None), the earlier default)")
    ap.add_argument("--three-channels", action="store_true",
                    help="the earlier recogniser: HOG, pixels and landmarks only (fusion weights 1, 2, 0.3; no jaw, no deep maps)")
    ap.add_argument("--tune", action="store_true", help="grid-search the open-set threshold and fit the temperature on phrases 01-03")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"MIRACL data not found at {DATA}")
    from lipauth.features.sequence import SequenceConfig

    global _SEQUENCE
    if args.three_channels:
        _SEQUENCE = SequenceConfig()
    t0 = time.perf_counter()
    takes, labels = load_takes()
    seqs = sequences(takes)
    print(f"tracked and encoded {len(seqs)} takes in {time.perf_counter() - t0:.1f} s")
    cfg = CommandsConfig() if args.metric_weight is None else CommandsConfig(metric_weight=args.metric_weight)
    if args.no_fusion:
        cfg = dataclasses.replace(cfg, fusion_weights=None)
    if args.three_channels:
        cfg = dataclasses.replace(cfg, fusion_weights=(1.0, 2.0, 0.3), reject_cohort=0.64, temperature=0.025)
    if args.tune:
        best = None
        tune_rows = open_set_rows(seqs, labels, [1, 2, 3], 10, cfg)
        for cohort in np.round(np.arange(0.50, 0.90, 0.02), 2):
            rej, acc = open_set_rates(tune_rows, float(cohort))
            print(f"  tune reject_cohort={cohort}: none {rej:.1%}, in-vocabulary {acc:.1%}")
            if rej >= 0.8 and (best is None or acc > best[0]):
                best = (acc, float(cohort))
        print(f"best on phrases 01-03 left out (in-vocabulary accuracy with >= 80 % none): reject_cohort={best[1]}")
        cfg = dataclasses.replace(cfg, reject_cohort=best[1])
        temperature = fit_temperature(seqs, labels, [1, 2, 3], args.splits, cfg)
        print(f"temperature fitted on the test takes of phrases 01-03: {temperature:.3f}")
        cfg = dataclasses.replace(cfg, temperature=temperature)
    rows = []
    if args.ablation:
        variants = {
            "landmarks only": SequenceConfig(hog_weight=0, pixel_weight=0, landmark_weight=1),
            "shape + velocity only": SequenceConfig(hog_weight=0, pixel_weight=0, landmark_weight=0, shape_weight=1),
            "HOG only": SequenceConfig(pixel_weight=0, landmark_weight=0),
            "HOG + landmarks (the probe's recipe)": SequenceConfig(pixel_weight=0, landmark_weight=0.5),
            "HOG + pixels + landmarks, closed-end DTW": SequenceConfig(open_end=0.0),
            "HOG + pixels + landmarks, open-end DTW (the earlier default)": SequenceConfig(),
            "+ jaw contour": SequenceConfig(jaw_weight=1.0),
            "+ deep lip maps": SequenceConfig(deep_weight=1.0),
            "deep lip maps only": SequenceConfig(hog_weight=0, pixel_weight=0, landmark_weight=0, deep_weight=1.0),
            "+ jaw contour + deep lip maps (default)": SequenceConfig(jaw_weight=1.0, deep_weight=1.0),
        }
        for name, sc in variants.items():  # then stop: the main report is a separate run
            accs = [closed_set(sequences(takes, sc), labels, k, args.splits, cfg, sc)[0] for k in (3, 5)]
            _add(rows, (f"ablation: {name}, 3 / 5 takes", f"{accs[0]:.1%} / {accs[1]:.1%}"))
        return
    for k in (3, 5):
        acc, conf, top, _ = closed_set(seqs, labels, k, args.splits, cfg)
        _add(rows, (f"closed set, {k} takes (top-ranked)", f"{acc:.1%}"))
        if k == 3:
            conf3, top3 = conf, top
    rej, acc = open_set(seqs, labels, [4, 5, 6], max(args.splits // 3, 3), cfg)
    _add(rows, ("open set (04-06 left out): left-out answered none", f"{rej:.1%}"))
    _add(rows, ("open set: in-vocabulary correct (rejections count as errors)", f"{acc:.1%}"))
    report = [r for k in (3, 5) for r in _closed_rows(seqs, labels, k, args.splits, cfg) if r[0] in (4, 5, 6)]
    ece, mean_conf, top1 = calibration(report)
    _add(rows, ("confidence calibration, test takes of phrases 04-06 (3 and 5 takes): ECE", f"{ece:.1%} (mean confidence {mean_conf:.1%}, top-1 {top1:.1%})"))
    micro = [("warp", f) for f in args.micro_warp] if args.micro_warp is not None else [("attenuate", f) for f in args.attenuate]
    for kind, factor in micro:
        t1 = time.perf_counter()
        mtakes, _ = load_takes(**{kind: factor})
        mseqs = sequences(mtakes)
        ratio = np.median([np.ptp(m[1].column("opening")) / np.ptp(o[1].column("opening")) for m, o in zip(mtakes, takes)])
        motion = np.median([m[1] / o[1] for m, o in zip(mseqs, seqs)])
        method = "attenuate_lip_motion" if kind == "warp" else "magnify_labial"
        print(f"attenuated ({method} factor {factor}) and re-tracked in {time.perf_counter() - t1:.1f} s")
        label = f"micro, {method}(factor={factor}) (opening range x{ratio:.2f}, crop motion x{motion:.2f} measured)"
        for k in (3, 5):
            macc, _, _, silent = closed_set(mseqs, labels, k, args.splits, cfg)
            n_tests = args.splits * (len(labels) - 6 * k)
            _add(rows, (f"{label}, {k} takes", f"{macc:.1%} ({silent}/{n_tests} answered no utterance)"))
        # the open set the same way: micro vocabularies, micro takes of the left-out phrases
        mrej, macc = open_set(mseqs, labels, [4, 5, 6], max(args.splits // 3, 3), cfg)
        _add(rows, (f"{label}, open set (04-06 left out): none / in-vocabulary correct", f"{mrej:.1%} / {macc:.1%}"))
    print()
    for name, value in rows:
        print(f"{name:<90} {value}")
    for title, mat, cols in (
        ("top-ranked word (closed set)", top3, ["01", "02", "03", "04", "05", "06"]),
        ("answer with the shipped rejection (last = none)", conf3, ["01", "02", "03", "04", "05", "06", "none"]),
    ):
        print(f"\nconfusion matrix, 3 takes, {args.splits} splits, rows = true phrase, columns = {title}:")
        print("      " + " ".join(f"{c:>4}" for c in cols))
        for i, row in enumerate(mat):
            print(f"  {i + 1:02d}  " + " ".join(f"{v:>4}" for v in row))


if __name__ == "__main__":
    main()
