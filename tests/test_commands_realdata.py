"""Personal lip commands on MIRACL-VC1 F01 (6 phrases x 10 takes, 15 fps, face ~70 px).

The full figures (30 random splits, ablation, tuning) come from
``benchmarks/accuracy_commands.py``; these tests check floors on fewer splits.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import shared_path

from lipauth.checks.commands import (
    COMMANDS_SEQUENCE,
    CommandListener,
    CommandsConfig,
    InconsistentTakesError,
    Vocabulary,
    has_utterance,
    listen_clip,
    recognise,
    take_motion,
)
from lipauth.errors import InsufficientDataError
from lipauth.features.sequence import utterance_frames, utterance_sequence

pytestmark = pytest.mark.realdata

#: 3 random 3-take enrolments per left-out phrase (04-06), default cohort threshold (0.74):
#: measured 82.2 % of the left-out takes answered "none", 86.3 % of the others answered
#: right (the benchmark's 10 splits: README); floors ~8 points below
OPEN_SET_REJECT_FLOOR = 0.74
OPEN_SET_ACCEPT_FLOOR = 0.78
#: micro movement (attenuate_lip_motion factor 0.3), 3 takes, 4 splits: the issue's goal is a
#: drop of at most 10 points; floor a few points under the measured figure
MICRO_DROP_CEILING = 0.10
MICRO_FLOOR = 0.88

PHRASES = range(1, 7)
REPS = range(1, 11)


def _sequence(video, track, feats, crops) -> np.ndarray:
    """The commands' sequence of a take (HOG, pixels, landmarks, jaw contour, deep lip maps)."""
    from lipauth.features.deep import deep_lip_frames

    deep = deep_lip_frames(video, track, frames=np.flatnonzero(feats.valid & track.detected))
    return utterance_sequence(track, feats, crops, config=COMMANDS_SEQUENCE, deep=deep)


def _name(phrase: int, rep: int) -> str:
    return f"F01_phrase{phrase:02d}_rep{rep:02d}.mp4"


@pytest.fixture(scope="module")
def miracl() -> dict[str, dict]:
    """Video, track, features, crops and sequence of the 60 takes (tracked once, ~15 s)."""
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    root = shared_path("miracl_f01")
    out = {}
    for p in PHRASES:
        for r in REPS:
            video = load_video(root / _name(p, r))
            track = track_lips(video)
            feats = extract_lip_features(track, video)
            crops = labial_crops(video, track)
            out[_name(p, r)] = {
                "video": video, "track": track, "features": feats, "crops": crops,
                "sequence": _sequence(video, track, feats, crops), "motion": take_motion(crops, utterance_frames(feats)),
            }
    return out


def _vocab(miracl: dict, reps: dict[int, list[int]]) -> Vocabulary:
    v = Vocabulary("f01")
    for p, rs in reps.items():  # as the benchmark: a take the enrolment rule would refuse is kept here
        v.add_word(f"phrase{p:02d}", [miracl[_name(p, r)]["sequence"] for r in rs], sources=[_name(p, r) for r in rs],
                   motions=[miracl[_name(p, r)]["motion"] for r in rs], config=CommandsConfig(max_inconsistency=100.0))
    return v


def _closed_set(miracl: dict, k: int, n_splits: int) -> float:
    rng = np.random.default_rng(1)
    accs = []
    for _ in range(n_splits):
        chosen = {p: sorted(rng.choice(list(REPS), k, replace=False).tolist()) for p in PHRASES}
        vocab = _vocab(miracl, chosen)
        tests = [(p, r) for p in PHRASES for r in REPS if r not in chosen[p]]
        ok = [recognise(vocab, miracl[_name(p, r)]["sequence"]).ranking[0][0] == f"phrase{p:02d}" for p, r in tests]
        accs.append(float(np.mean(ok)))
    return float(np.mean(accs))


def test_every_take_has_an_utterance(miracl: dict) -> None:
    assert all(has_utterance(d["features"], d["crops"]) for d in miracl.values())
    assert all(has_utterance(d["features"], d["crops"], track=d["track"]) for d in miracl.values())
    vocab = _vocab(miracl, {p: [1, 2, 3] for p in PHRASES})
    ref = vocab.reference_motion
    assert all(has_utterance(d["features"], d["crops"], reference_motion=ref) for d in miracl.values())


def test_closed_set_accuracy(miracl: dict) -> None:
    # measured 99.2 % / 100 % on these 6 splits; the benchmark's 30 splits: README (goals 97 % / 99 %)
    assert _closed_set(miracl, 3, 6) >= 0.97
    assert _closed_set(miracl, 5, 6) >= 0.99


def test_open_set_rejects_a_left_out_phrase(miracl: dict) -> None:
    rejected, correct = [], []
    for out in (4, 5, 6):  # the cohort threshold was tuned with phrases 01-03 left out
        rng = np.random.default_rng(out)
        for _ in range(3):
            chosen = {p: sorted(rng.choice(list(REPS), 3, replace=False).tolist()) for p in PHRASES if p != out}
            vocab = _vocab(miracl, chosen)
            for p in PHRASES:
                for r in REPS:
                    if p != out and r in chosen[p]:
                        continue
                    res = recognise(vocab, miracl[_name(p, r)]["sequence"])
                    if p == out:
                        rejected.append(res.word is None)
                    else:
                        correct.append(res.word == f"phrase{p:02d}")
    assert np.mean(rejected) >= OPEN_SET_REJECT_FLOOR
    assert np.mean(correct) >= OPEN_SET_ACCEPT_FLOOR


def test_a_one_word_vocabulary_answers_its_word_and_not_the_others(miracl: dict) -> None:
    """Each of phrases 04-06 alone (3 takes): its other takes answered, other phrases "none".

    ``CommandsConfig.reject_scrambled`` (0.73) was tuned on phrases 01-03; the benchmark
    (``accuracy_commands.py --one-word``) measured 94.3 % accepted and 93.6 % "none" here (5
    enrolments); floors under. Before, a one-word vocabulary answered "none" to every take.
    """
    accepted, refused = [], []
    for p in (4, 5, 6):
        rng = np.random.default_rng(p)
        for _ in range(2):
            chosen = {p: sorted(rng.choice(list(REPS), 3, replace=False).tolist())}
            vocab = _vocab(miracl, chosen)
            for q in PHRASES:
                for r in REPS:
                    if q == p and r in chosen[p]:
                        continue
                    res = recognise(vocab, miracl[_name(q, r)]["sequence"])
                    (accepted if q == p else refused).append(res.word == f"phrase{p:02d}" if q == p else res.word is None)
    assert np.mean(accepted) >= 0.85, np.mean(accepted)
    assert np.mean(refused) >= 0.85, np.mean(refused)


def test_enrolment_accepts_genuine_takes_and_names_a_foreign_one(miracl: dict) -> None:
    """The lip password's enrolment rule (features.matcher.check_consistency) serves the commands."""
    refused = 0
    for p in PHRASES:  # genuine 3-take sets: measured 1 of 18 refused (phrase 02, rep 01 at 0.90)
        for reps in ((1, 2, 3), (4, 5, 6), (8, 9, 10)):
            try:
                Vocabulary("x").add_word(f"p{p}", [miracl[_name(p, r)]["sequence"] for r in reps])
            except InconsistentTakesError:
                refused += 1
    assert refused <= 2
    good = [miracl[_name(1, r)]["sequence"] for r in (1, 2, 3, 4)]
    names = [_name(1, r) for r in (1, 2, 3, 4)]
    named = 0
    for p, r in ((4, 1), (4, 2), (5, 1), (5, 2), (6, 1), (6, 2)):  # a take of another phrase among them
        try:
            Vocabulary("x").add_word("stop navigation", [*good, miracl[_name(p, r)]["sequence"]], sources=[*names, _name(p, r)])
        except InconsistentTakesError as exc:
            assert re.search(rf"{_name(p, r)} \(\d\.\d\d\) does not match", str(exc)) and _name(1, 1) not in str(exc)
            named += 1
    assert named >= 4, named  # the password benchmark: 71-78 of 90 such sets refused (a similar phrase can pass)


@pytest.fixture(scope="module")
def long_clip(miracl: dict, tmp_path_factory) -> tuple[str, list[str]]:
    """Three held-out takes (phrases 02 rep 10, 05 rep 09, 01 rep 10) with 1-s still pauses, re-encoded.

    (rep 08 of phrase 02 is misrecognised even on its own, so it would not test the listening;
    phrase 05 rep 10, "good bye" said with the lips almost closed, is cut from this clip with
    an inner-lip opening varying by 0.01 face units only: the lips' evidence answers it "no
    utterance", docs/commands.md.)
    """
    from lipauth.io import write_video

    order = [(2, 10), (5, 9), (1, 10)]
    frames = []
    for p, r in order:
        f = miracl[_name(p, r)]["video"].frames
        frames += [f[0]] * (15 if not frames else 0) + list(f) + [f[-1]] * 15
    path = tmp_path_factory.mktemp("listen") / "three.mp4"
    write_video(path, np.stack(frames), fps=15.0)
    return str(path), [f"phrase{p:02d}" for p, _ in order]


def test_listen_clip_finds_three_utterances_in_order(miracl: dict, long_clip) -> None:
    path, expected = long_clip
    vocab = _vocab(miracl, {p: [1, 2, 3, 4, 5] for p in PHRASES})
    results = listen_clip(vocab, path)
    assert [r.ranking[0][0] for r in results] == expected
    assert all(a.end_s <= b.start_s for a, b in zip(results, results[1:]))


def test_listener_streams_the_same(miracl: dict, long_clip) -> None:
    from lipauth.io import load_video

    path, expected = long_clip
    vocab = _vocab(miracl, {p: [1, 2, 3, 4, 5] for p in PHRASES})
    listener = CommandListener(vocab)
    results = []
    for t_s, frame in load_video(path).iter_frames():
        results += listener.update(frame, t_s)
    n_live = len(results)
    results += listener.finish()
    assert [r.ranking[0][0] for r in results] == expected
    assert n_live >= 2  # the first utterances are answered before the stream ends


def test_cli_enrol_recognise_listen(long_clip, tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from lipauth.cli import cli

    root = shared_path("miracl_f01")
    store = ["--store", str(tmp_path / "voc")]
    runner = CliRunner()
    for p, word in ((1, "stop navigation"), (2, "excuse me"), (5, "good bye")):
        takes = [str(root / _name(p, r)) for r in (1, 2, 3, 4, 5)]
        res = runner.invoke(cli, ["commands", "enrol", "f01", "--word", word, *takes, *store])
        assert res.exit_code == 0, res.output
    assert "good bye, stop navigation" in res.output
    res = runner.invoke(cli, ["commands", "recognise", "f01", str(root / _name(2, 10)), "--json", *store])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["ranking"][0][0] == "excuse me" and out["check"] == "commands" and "threshold" in out
    plot = tmp_path / "listen.png"
    res = runner.invoke(cli, ["commands", "listen", "f01", "--video", long_clip[0], "--plot", str(plot), "--json", *store])
    assert res.exit_code == 0, res.output
    found = [json.loads(line) for line in res.output.strip().splitlines()]
    assert [r["ranking"][0][0] for r in found] == ["excuse me", "good bye", "stop navigation"]
    assert all(a["end_s"] <= b["start_s"] for a, b in zip(found, found[1:]))
    assert plot.stat().st_size > 10_000
    res = runner.invoke(cli, ["commands", "listen", "f01", "--video", long_clip[0], *store])
    assert res.exit_code == 0 and len(res.output.strip().splitlines()) == 3 and " s  " in res.output


def test_cli_vocabulary_keeps_motions_and_a_still_clip_is_no_utterance(miracl: dict, tmp_path) -> None:
    """`commands enrol` stores each take's motion, so `commands recognise` has the relative gate."""
    import json

    from click.testing import CliRunner

    from lipauth.checks.commands import FileVocabularyStore
    from lipauth.cli import cli
    from lipauth.io import write_video

    root = shared_path("miracl_f01")
    store = ["--store", str(tmp_path / "voc")]
    runner = CliRunner()
    for p in (1, 2):
        takes = [str(root / _name(p, r)) for r in (1, 2, 3)]
        res = runner.invoke(cli, ["commands", "enrol", "f01", "--word", f"phrase{p:02d}", *takes, *store])
        assert res.exit_code == 0, res.output
    vocab = FileVocabularyStore(tmp_path / "voc").load("f01")
    assert vocab.reference_motion is not None and vocab.reference_motion > 0
    f0 = miracl[_name(1, 4)]["video"].frames[0]
    still = write_video(tmp_path / "still.mp4", np.stack([f0] * 15), fps=15.0)
    res = runner.invoke(cli, ["commands", "recognise", "f01", str(still), "--json", *store])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["reasons"] == ["NO_UTTERANCE"] and not out["accepted"]


@pytest.fixture(scope="module")
def miracl_micro(miracl: dict) -> dict[str, dict]:
    """The same takes with the lip motion reduced to 30 % geometrically (attenuate_lip_motion,
    ~0.30x on the tracked opening range, the issue's micro movement) and re-tracked (~20 s)."""
    import dataclasses

    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.features.magnify import attenuate_lip_motion
    from lipauth.tracking import track_lips

    out = {}
    for name, d in miracl.items():
        frames = np.stack(list(attenuate_lip_motion(d["video"], d["track"], factor=0.3)))
        video = dataclasses.replace(d["video"], frames=frames)
        track = track_lips(video)
        feats = extract_lip_features(track, video)
        crops = labial_crops(video, track)
        out[name] = {"sequence": _sequence(video, track, feats, crops), "motion": take_motion(crops, utterance_frames(feats)),
                     "features": feats, "crops": crops, "track": track}
    return out


@pytest.fixture(scope="module")
def still_miracl(miracl: dict) -> list[dict]:
    """A real still face: the first frame of six MIRACL takes repeated for 0.8 s with
    2-grey-level camera noise, tracked like a take."""
    import dataclasses

    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.tracking import track_lips

    rng = np.random.default_rng(0)
    out = []
    for p in PHRASES:
        video = miracl[_name(p, 1)]["video"]
        f0 = video.frames[0].astype(np.float32)
        frames = np.stack([np.clip(f0 + rng.normal(0.0, 2.0, f0.shape), 0, 255).astype(np.uint8) for _ in range(12)])
        still = dataclasses.replace(video, frames=frames, timestamps_s=np.arange(12) / 15.0)  # MIRACL: 15 fps
        track = track_lips(still)
        feats = extract_lip_features(track, still)
        crops = labial_crops(still, track)
        out.append({"sequence": _sequence(still, track, feats, crops), "motion": take_motion(crops, utterance_frames(feats)),
                    "features": feats, "crops": crops, "track": track})
    return out


def test_micro_movement_is_recognised_not_silenced(miracl: dict, miracl_micro: dict) -> None:
    full = _closed_set(miracl, 3, 4)
    rng = np.random.default_rng(1)
    accs, silent = [], 0
    for _ in range(4):
        chosen = {p: sorted(rng.choice(list(REPS), 3, replace=False).tolist()) for p in PHRASES}
        vocab = _vocab(miracl_micro, chosen)
        for p in PHRASES:
            for r in REPS:
                if r in chosen[p]:
                    continue
                d = miracl_micro[_name(p, r)]
                res = recognise(vocab, d["sequence"], motion=d["motion"])
                silent += res.reasons == ("NO_UTTERANCE",)
                accs.append(bool(res.ranking) and res.ranking[0][0] == f"phrase{p:02d}")
    micro = float(np.mean(accs))
    # the vocabulary's own range of motion is the reference: no micro take is "no utterance"
    # (the earlier absolute opening gate answered so for 11 of 60)
    assert silent == 0
    # the goal: a drop of at most 10 points
    assert micro >= full - MICRO_DROP_CEILING, (full, micro)
    assert micro >= MICRO_FLOOR, micro


def test_still_real_face_is_no_utterance_for_full_and_micro_vocabularies(
    miracl: dict, miracl_micro: dict, still_miracl: list[dict]
) -> None:
    for takes in (miracl, miracl_micro):
        vocab = _vocab(takes, {p: [1, 2, 3] for p in PHRASES})
        for d in still_miracl:
            # the lips' own evidence (opening_change, shape_change), not relative to the vocabulary
            assert not has_utterance(d["features"], d["crops"])
            assert not has_utterance(d["features"], d["crops"], track=d["track"])
            assert not has_utterance(d["features"], d["crops"], reference_motion=vocab.reference_motion)
            res = recognise(vocab, None, motion=d["motion"])
            assert res.reasons == ("NO_UTTERANCE",) and res.word is None and not res.accepted
        # the same faces past the evidence fall to the open-set rule
        assert all(recognise(vocab, d["sequence"]).word is None for d in still_miracl)
    # micro takes are heard (by the opening alone 2 of 60 are not at 0.3 in the benchmark, with the
    # shape_change ratios 1 of 60: docs/commands.md)
    assert np.mean([has_utterance(d["features"], d["crops"]) for d in miracl_micro.values()]) >= 0.93
    assert np.mean([has_utterance(d["features"], d["crops"], track=d["track"]) for d in miracl_micro.values()]) >= 0.96


def test_enrolment_refuses_a_still_take_among_moving_ones(miracl: dict, still_miracl: list[dict]) -> None:
    takes = [miracl[_name(1, r)] for r in (1, 2, 3)] + [still_miracl[0]]
    names = [_name(1, r) for r in (1, 2, 3)] + ["still.mp4"]
    with pytest.raises(InsufficientDataError, match="hardly move in still.mp4"):
        Vocabulary("x").add_word("stop navigation", [d["sequence"] for d in takes], sources=names,
                                 motions=[d["motion"] for d in takes], config=CommandsConfig(max_inconsistency=100.0))
