"""checks.commands: enrolment, recognition, open set, stores, no utterance, CLI (synthetic)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from lipauth.checks.commands import (
    CommandResult,
    CommandsConfig,
    FileVocabularyStore,
    InconsistentTakesError,
    MemoryVocabularyStore,
    UnknownVocabularyError,
    Vocabulary,
    recognise,
)
from lipauth.errors import InputError, InsufficientDataError

#: The synthetic sequences here have 3 columns, not the HOG / pixel / landmark blocks of a
#: real utterance_sequence: one DTW over the whole sequence (no channel fusion).
_RAW = CommandsConfig(fusion_weights=None)


def _word(freq: float, n: int, rng: np.random.Generator, *, noise: float = 0.2, scale: float = 1.0) -> np.ndarray:
    t = np.linspace(0, 1, n)
    base = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.sin(np.pi * freq * t**2)], axis=1)
    return (scale * base + noise * rng.standard_normal(base.shape)).astype(np.float32)


def _takes(freq: float, k: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_word(freq, int(rng.integers(10, 16)), rng) for _ in range(k)]


@pytest.fixture
def vocab() -> Vocabulary:
    v = Vocabulary("alice")
    for word, freq in (("water", 0.5), ("pain", 1.5), ("nurse", 2.5)):
        v.add_word(word, _takes(freq, 4, seed=int(freq * 10)))
    return v


def test_recognises_each_word_with_ranking(vocab: Vocabulary) -> None:
    rng = np.random.default_rng(7)
    for word, freq in (("water", 0.5), ("pain", 1.5), ("nurse", 2.5)):
        r = recognise(vocab, _word(freq, 13, rng), config=_RAW)
        assert r.word == word and r.accepted and r.reasons == ()
        assert [w for w, _, _ in r.ranking][0] == word
        assert sum(c for _, c, _ in r.ranking) == pytest.approx(1.0)
        assert r.score == pytest.approx(r.ranking[0][1]) and r.score > 0.5


def test_open_set_answers_none(vocab: Vocabulary) -> None:
    r = recognise(vocab, _word(4.0, 13, np.random.default_rng(3)), config=_RAW)
    assert r.word is None and not r.accepted
    assert "NOT_IN_VOCABULARY" in r.reasons or "AMBIGUOUS" in r.reasons


def test_no_utterance_is_an_answer_not_an_error(vocab: Vocabulary) -> None:
    r = recognise(vocab, None, start_s=0.0, end_s=1.0)
    assert r.word is None and r.reasons == ("NO_UTTERANCE",) and not r.accepted


def test_too_few_takes() -> None:
    with pytest.raises(InsufficientDataError, match="at least 3 takes"):
        Vocabulary("bob").add_word("yes", _takes(1.0, 2, seed=1))


def test_disagreeing_take_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lip password's consistency rule (features.matcher.check_consistency), on takes in
    the cohort's layout; real takes: tests/test_commands_realdata.py."""
    from lipauth.features import matcher
    from lipauth.features.matcher import Cohort, full_width, sketch

    rng = np.random.default_rng(2)
    width = full_width()

    def take(seed: int, base: np.ndarray | None = None) -> np.ndarray:
        r = np.random.default_rng(seed)
        x = np.cumsum(r.normal(size=(12, width)), axis=0) if base is None else base + 0.002 * r.normal(size=base.shape)
        return (x / np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())).astype(np.float32)

    base = take(0)
    cohort = Cohort.from_takes([sketch(take(100 + k)) for k in range(8)], [0] * 8)
    monkeypatch.setattr(matcher, "load_cohort", lambda: cohort)
    takes = [take(k, base) for k in range(1, 5)] + [take(int(rng.integers(50, 60)))]
    with pytest.raises(InconsistentTakesError, match=r"bad.mp4 \(\d\.\d\d\) does not match"):
        Vocabulary("bob").add_word("yes", takes, sources=["a.mp4", "b.mp4", "c.mp4", "d.mp4", "bad.mp4"])
    Vocabulary("bob").add_word("yes", takes[:4])  # the agreeing takes enrol


def test_empty_vocabulary() -> None:
    with pytest.raises(InputError, match="is empty"):
        recognise(Vocabulary("empty"), _word(1.0, 10, np.random.default_rng(0)))


@pytest.mark.parametrize(("name", "match"), [("", "not a valid name"), ("../x", "not a valid name")])
def test_bad_vocabulary_name(name: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        Vocabulary(name)


def test_width_mismatch(vocab: Vocabulary) -> None:
    with pytest.raises(InputError, match="widths"):
        vocab.add_word("extra", [np.zeros((10, 5), np.float32)] * 3)


@pytest.mark.parametrize("store_kind", ["memory", "file"])
def test_store_round_trip(vocab: Vocabulary, store_kind: str, tmp_path) -> None:
    store = MemoryVocabularyStore() if store_kind == "memory" else FileVocabularyStore(tmp_path / "voc")
    store.save(vocab)
    assert store.names() == ["alice"]
    back = store.load("alice")
    assert back.words == vocab.words and back.spread_ == pytest.approx(vocab.spread_)
    assert all(np.array_equal(a, b) for a, b in zip(back.takes["pain"], vocab.takes["pain"]))
    q = _word(1.5, 12, np.random.default_rng(11))
    assert recognise(back, q, config=_RAW).ranking == recognise(vocab, q, config=_RAW).ranking
    store.delete("alice")
    with pytest.raises(UnknownVocabularyError, match="no vocabulary 'alice'"):
        store.load("alice")


def test_corrupt_vocabulary_file(tmp_path) -> None:
    (tmp_path / "x.npz").write_bytes(b"not an npz")
    with pytest.raises(InputError, match="not a lipauth vocabulary file"):
        FileVocabularyStore(tmp_path).load("x")


def test_result_round_trip(vocab: Vocabulary) -> None:
    r = recognise(vocab, _word(0.5, 12, np.random.default_rng(5)), start_s=0.5, end_s=1.5, config=_RAW)
    back = CommandResult.from_dict(r.to_dict())
    assert back.word == r.word and back.ranking == r.ranking
    assert back.reasons == r.reasons and back.start_s == 0.5 and back.check == "commands"


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory) -> str:
    from lipauth.synth import make_talking_clip

    path = tmp_path_factory.mktemp("still") / "still.mp4"
    make_talking_clip(path, duration_s=1.5, fps=15, size=(320, 240), face_width_px=140,
                      opening=np.zeros(22), audio=None, seed=0)
    return str(path)


def test_still_face_has_no_utterance(vocab: Vocabulary, still_clip: str) -> None:
    from lipauth.checks.commands import clip_sequence, listen_clip

    seq, track, features = clip_sequence(still_clip)
    assert seq is None and track.detected.any()
    assert listen_clip(vocab, still_clip) == []


def test_cli_enrol_refuses_too_few_takes(tmp_path, still_clip: str) -> None:
    from lipauth.cli import cli

    res = CliRunner().invoke(cli, ["commands", "enrol", "v", "--store", str(tmp_path), "--word", "yes", still_clip])
    assert res.exit_code != 0 and "at least 3 takes" in str(res.exception)


def test_cli_unknown_vocabulary(tmp_path, still_clip: str) -> None:
    from lipauth.cli import cli

    res = CliRunner().invoke(cli, ["commands", "recognise", "nope", still_clip, "--store", str(tmp_path)])
    assert isinstance(res.exception, UnknownVocabularyError) and "enrol it first" in str(res.exception)


def test_cli_enrol_refuses_still_takes(tmp_path, still_clip: str) -> None:
    from lipauth.cli import cli

    res = CliRunner().invoke(cli, ["commands", "enrol", "v", "--store", str(tmp_path), "--word", "yes"] + [still_clip] * 3)
    assert isinstance(res.exception, InsufficientDataError) and "do not move" in str(res.exception)


def test_listener_on_a_still_face_emits_nothing_and_keeps_a_short_buffer(vocab: Vocabulary, still_clip: str) -> None:
    from lipauth.checks.commands import CommandListener
    from lipauth.io import load_video

    video = load_video(still_clip)
    listener = CommandListener(vocab, hop_s=0.1)
    out = []
    for _ in range(3):  # 4.5 s of a still face
        for t_s, frame in video.iter_frames():
            out += listener.update(frame, t_s + _ * video.duration_s)
    assert out == [] and len(listener._frames) <= 20
    assert listener.finish() == []


def test_listener_needs_words() -> None:
    from lipauth.checks.commands import CommandListener

    with pytest.raises(InputError, match="is empty"):
        CommandListener(Vocabulary("empty"))


def test_vocabulary_metric_is_learned_from_its_takes_and_kept(vocab: Vocabulary) -> None:
    from lipauth.checks.commands import CommandsConfig

    vocab.ensure_metric()
    assert vocab.metric_ is not None and vocab.metric_.projection.shape[0] == 3
    assert set(vocab.projected_) == set(vocab.words)
    back = Vocabulary.from_bytes(vocab.to_bytes())
    assert np.array_equal(back.metric_.projection, vocab.metric_.projection)
    assert Vocabulary.from_bytes(Vocabulary("bob").to_bytes()).metric_ is None
    q = _word(2.5, 13, np.random.default_rng(5))
    fused, raw = recognise(vocab, q, config=CommandsConfig(metric_weight=0.3, fusion_weights=None)), recognise(vocab, q, config=_RAW)  # raw DTW
    assert fused.ranking[0][0] == raw.ranking[0][0] == "nurse"
    assert [d for _, _, d in fused.ranking] != [d for _, _, d in raw.ranking]
    vocab.remove_word("pain")
    vocab.remove_word("water")
    vocab.ensure_metric()
    assert vocab.metric_ is None and vocab.projected_ == {}  # one word: raw DTW and the scrambled-takes rule
    assert recognise(vocab, q, config=_RAW).threshold == CommandsConfig().reject_scrambled


def test_metric_weight_out_of_range() -> None:
    from lipauth.checks.commands import CommandsConfig
    from lipauth.errors import ConfigError

    with pytest.raises(ConfigError, match="metric_weight"):
        CommandsConfig(metric_weight=1.5)


@pytest.mark.parametrize("weights", [(1.0, 2.0), (1.0, -1.0, 0.3), (0.0, 0.0, 0.0), (1.0, 2.0, 200.0)])
def test_fusion_weights_out_of_range(weights: tuple) -> None:
    from lipauth.errors import ConfigError

    with pytest.raises(ConfigError, match="fusion_weights"):
        CommandsConfig(fusion_weights=weights)


def test_three_fusion_weights_leave_the_new_channels_out() -> None:
    from lipauth.checks.commands import FUSION_CHANNELS

    assert len(FUSION_CHANNELS) == 6 and len(CommandsConfig().fusion_weights) == 6
    assert CommandsConfig(fusion_weights=(1.0, 2.0, 0.3)).fusion_weights == (1.0, 2.0, 0.3, 0.0, 0.0, 0.0)


def test_fusion_needs_real_sequence_blocks(vocab: Vocabulary) -> None:
    with pytest.raises(InputError, match="does not fit"):
        recognise(vocab, _word(1.0, 12, np.random.default_rng(0)))  # default: channel fusion


def test_fusion_sums_per_channel_distances_over_their_medians() -> None:
    from lipauth.features.sequence import SequenceConfig, channel_slices, dtw_distance

    rng = np.random.default_rng(4)
    sc = SequenceConfig()
    width = 756 + 512 + 80
    takes = {w: [rng.standard_normal((int(rng.integers(8, 13)), width)).astype(np.float32) for _ in range(3)] for w in ("a", "b")}
    vocab = Vocabulary("fuse", sc)
    for w, t in takes.items():
        vocab.add_word(w, t, config=CommandsConfig(max_inconsistency=100.0))
    q = takes["b"][1][::-1].copy()
    r = recognise(vocab, q, config=CommandsConfig(fusion_weights=(1.0, 2.0, 0.3), alt_fusion_weights=None, reject_cohort=100.0))
    blocks = channel_slices(sc, width=width)
    every = [t for w in ("a", "b") for t in takes[w]]
    total = np.zeros(len(every))
    for (name, cols), wt in zip(blocks.items(), (1.0, 2.0, 0.3)):
        d = np.array([dtw_distance(q[:, cols], t[:, cols], band=sc.band, open_end=sc.open_end) for t in every])
        total += wt * d / np.median(d)
    expected = {"a": total[:3].min(), "b": total[3:].min()}
    assert {w: d for w, _, d in r.ranking} == pytest.approx(expected)


def test_take_motion_is_the_crops_rms_deviation_in_percent_of_contrast() -> None:
    from lipauth.checks.commands import take_motion

    still = np.full((6, 8, 8), 0.5, dtype=np.float32)
    assert take_motion(still) == 0.0
    flicker = still.copy()
    flicker[::2] += 0.025  # crops are 0.5 + (luma - mean) / (4 std): 0.025 = 10 % of the std
    flicker[1::2] -= 0.025
    assert take_motion(flicker) == pytest.approx(10.0, rel=1e-4)
    assert take_motion(flicker, np.array([0, 2, 4])) == 0.0  # the selected frames only
    with pytest.raises(InputError, match="crops have shape"):
        take_motion(np.zeros((6, 8)))


def test_relative_no_utterance_is_opt_in(vocab: Vocabulary) -> None:
    rng = np.random.default_rng(11)
    micro = Vocabulary("bob")
    for word, freq in (("water", 0.5), ("pain", 1.5), ("nurse", 2.5)):
        micro.add_word(word, _takes(freq, 4, seed=int(freq * 10)), motions=[10.0, 12.0, 14.0, 13.0], config=_RAW)
    assert micro.reference_motion == pytest.approx(12.5)
    q = _word(1.5, 13, rng)
    relative = CommandsConfig(fusion_weights=None, min_relative_motion=0.55)
    assert recognise(micro, q, motion=8.0, config=relative).word == "pain"  # a micro take of a micro vocabulary
    assert recognise(micro, q, motion=6.0, config=relative).reasons == ("NO_UTTERANCE",)  # under 0.55x of 12.5
    # the default: a take moving far less than the enrolled ones is still heard (issue 20)
    assert recognise(micro, q, motion=6.0, config=_RAW).word == "pain"
    assert recognise(micro, q, motion=4.0, config=_RAW).reasons == ("NO_UTTERANCE",)  # under the min_motion floor
    assert vocab.reference_motion is None and recognise(vocab, q, motion=6.0, config=_RAW).word == "pain"
    back = Vocabulary.from_bytes(micro.to_bytes())
    assert back.motion_ == micro.motion_
    micro.remove_word("pain")
    assert "pain" not in micro.motion_


def test_amplitude_copies_are_matched_as_a_vocabulary_of_their_own() -> None:
    """A slight take matches the slight copies of its word; the answer says which copies."""
    full, slight = Vocabulary("full"), Vocabulary("both")
    for word, freq in (("water", 0.5), ("pain", 1.5), ("nurse", 2.5)):
        rng = np.random.default_rng(int(freq * 10))
        takes = [_word(freq, int(rng.integers(10, 16)), rng, noise=0.05) for _ in range(3)]
        # a "slight" copy: the same movement, a different shape (the curve bends less)
        copies = [np.tanh(0.3 * t).astype(np.float32) * 3 for t in takes]
        full.add_word(word, takes, config=_RAW)
        slight.add_word(word, takes, copies={0.5: copies}, config=_RAW)
    q = (np.tanh(0.3 * _word(1.5, 13, np.random.default_rng(5), noise=0.05)) * 3).astype(np.float32)
    r = recognise(slight, q, config=_RAW)
    assert r.word == "pain" and r.details["amplitude"] == 0.5
    assert recognise(full, q, config=_RAW).details["amplitude"] == 1.0
    back = Vocabulary.from_bytes(slight.to_bytes())
    assert sorted(back.copies_) == [0.5] and all(
        np.array_equal(a, b) for w in slight.words for a, b in zip(back.copies_[0.5][w], slight.copies_[0.5][w])
    )
    back.remove_word("pain")
    assert "pain" not in back.copies_[0.5]
    # a word enrolled without copies: the copies are not used (every word needs them)
    back.add_word("pain", _takes(1.5, 3, seed=15), config=_RAW)
    assert recognise(back, q, config=_RAW).details["amplitude"] == 1.0
    with pytest.raises(InputError, match="amplitude copies"):
        Vocabulary("x").add_word("yes", _takes(0.5, 3, seed=1), copies={0.5: [np.zeros((4, 2), np.float32)]})


def test_opening_change_is_the_openings_range_over_its_rest() -> None:
    from lipauth.checks.commands import OPENING_FLOOR, OPENING_REST_WEIGHT, opening_change

    class _F:
        def __init__(self, opening: np.ndarray) -> None:
            self.timestamps_s = np.arange(len(opening)) / 25.0
            self.valid = np.ones(len(opening), dtype=bool)
            self._o = opening

        def column(self, name: str) -> np.ndarray:
            assert name == "opening"
            return self._o

    o = np.array([0.01, 0.03, 0.05, 0.02, 0.01])
    assert opening_change(_F(o)) == pytest.approx(0.04 / (OPENING_REST_WEIGHT * 0.01 + OPENING_FLOOR))  # type: ignore[arg-type]
    assert opening_change(_F(o), np.array([0, 4])) == 0.0  # type: ignore[arg-type]
    assert opening_change(_F(np.full(5, 0.3))) == 0.0  # type: ignore[arg-type]
    # the same range on a mouth open at rest counts less (the tracker jitters more there)
    assert opening_change(_F(o + 0.2)) < 0.5 * opening_change(_F(o))  # type: ignore[arg-type]


def test_enrolment_motions_must_match_the_takes() -> None:
    with pytest.raises(InputError, match="motions"):
        Vocabulary("x").add_word("yes", _takes(0.5, 3, seed=1), motions=[5.0, 6.0])
    with pytest.raises(InputError, match="motions"):
        Vocabulary("x").add_word("yes", _takes(0.5, 3, seed=1), motions=[5.0, float("nan"), 6.0])
    with pytest.raises(InsufficientDataError, match="hardly move in take 3"):
        Vocabulary("x").add_word("yes", _takes(0.5, 3, seed=1), motions=[10.0, 9.0, 2.0], config=_RAW)


@pytest.mark.parametrize(
    "field_name, value",
    [("min_relative_motion", 1.5), ("min_motion", -1.0), ("enrol_relative_motion", 2.0), ("min_opening_change", -0.1),
     ("min_width_change", -0.1), ("min_area_change", 101.0)],
)
def test_motion_gate_settings_out_of_range(field_name: str, value: float) -> None:
    from lipauth.errors import ConfigError

    with pytest.raises(ConfigError, match=field_name):
        CommandsConfig(**{field_name: value})


def test_shape_change_ignores_a_flat_face_warped_and_sees_the_lips_change() -> None:
    from types import SimpleNamespace

    from lipauth.checks.commands import CommandsConfig, shape_change
    from lipauth.tracking.base import CONTOUR_POINT_NAMES

    a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    outer = np.stack([100 + 30 * np.cos(a), 200 + 12 * np.sin(a)], 1)
    inner = np.stack([100 + 20 * np.cos(a), 200 + 4 * np.sin(a)], 1)
    contour = np.zeros((len(CONTOUR_POINT_NAMES), 3))
    contour[CONTOUR_POINT_NAMES.index("right_eye_outer"), :2] = (60, 120)
    contour[CONTOUR_POINT_NAMES.index("left_eye_outer"), :2] = (140, 120)

    def track(lips: list[np.ndarray], contours: list[np.ndarray]) -> SimpleNamespace:
        return SimpleNamespace(landmarks_px=np.stack(lips), contour_xyz=np.stack(contours), n_frames=len(lips),
                               detected=np.ones(len(lips), dtype=bool))

    rng = np.random.default_rng(0)
    lips, contours = [], []
    for _ in range(8):  # a photo squeezed, sheared, rotated and moved: one affine map for the whole face
        m = np.eye(2) + rng.normal(0, 0.1, (2, 2))
        t = rng.normal(0, 5, 2)
        lips.append(np.concatenate([outer, inner]) @ m.T + t)
        c = contour.copy()
        c[:, :2] = contour[:, :2] @ m.T + t
        contours.append(c)
    width, area = shape_change(track(lips, contours))  # type: ignore[arg-type]
    assert width < 1e-6 and area < 1e-6
    # the mouth spreads by 10 % with the eyes still (a closed-lip word), then opens
    spread = np.concatenate([outer * [1.1, 1] + [-10, 0], inner * [1.1, 1] + [-10, 0]])
    opened = np.concatenate([outer, np.stack([100 + 20 * np.cos(a), 200 + 7 * np.sin(a)], 1)])
    width, area = shape_change(track([np.concatenate([outer, inner]), spread, opened], [contour] * 3))  # type: ignore[arg-type]
    assert width == pytest.approx(0.1, rel=0.01)
    assert area == pytest.approx((7 - 4) * 20 / (30 * 12), rel=0.05)
    assert width > CommandsConfig().min_width_change and area > CommandsConfig().min_area_change
    # no contour (a backend without it): no evidence from the shape
    assert shape_change(SimpleNamespace(contour_xyz=None, n_frames=3)) == (0.0, 0.0)  # type: ignore[arg-type]


def test_leave_one_out_accuracy_picks_the_weights_that_tell_the_takes_apart(vocab: Vocabulary) -> None:
    from lipauth.checks.commands import loo_accuracy, recognise, uses_alt_fusion
    from lipauth.errors import ConfigError

    rng = np.random.default_rng(3)
    labels = ["yes"] * 3 + ["no"] * 3
    word = np.array([0, 0, 0, 1, 1, 1])
    chans = []
    for i in range(6):
        others = np.delete(np.arange(6), i)
        d = rng.uniform(0.5, 1.5, (6, 5))  # channels that do not tell the words apart
        d[0] = np.where(word[others] == word[i], 0.2, 1.0)  # the first channel does
        chans.append(d)
    assert loo_accuracy(chans, labels, (1, 0, 0, 0, 0, 0)) == 1.0
    assert loo_accuracy(chans, labels, (0.01, 0, 0, 0, 5, 5)) < 1.0
    # one weight set (or none: one DTW over the whole sequence) never switches
    assert not uses_alt_fusion(vocab, _RAW)
    assert recognise(vocab, _takes(1.5, 1, seed=99)[0], config=_RAW).details["fusion"] == "default"
    with pytest.raises(ConfigError):
        CommandsConfig(alt_fusion_weights=(1.0, 2.0))


def test_the_choice_of_weights_is_stored_with_the_vocabulary() -> None:
    from lipauth.checks.commands import MemoryVocabularyStore, uses_alt_fusion

    v = Vocabulary("keep")
    for word, freq in (("water", 0.5), ("pain", 1.5)):
        v.add_word(word, _takes(freq, 3, seed=int(freq * 10)))
    cfg = CommandsConfig()
    # these toy sequences have no channel layout: never switched (and nothing to redo)
    assert not uses_alt_fusion(v, cfg)
    key = (cfg.fusion_weights, cfg.alt_fusion_weights, cfg.alt_min_gain)
    v._fusion_choice[key] = True  # as a vocabulary whose takes chose the alternative
    back = Vocabulary.from_bytes(v.to_bytes())
    assert back._fusion_choice == {key: True}
    assert uses_alt_fusion(back, cfg)  # read, not computed again
    store = MemoryVocabularyStore()
    store.save(v)
    assert store.load("keep")._fusion_choice == {key: True}
    back.add_word("nurse", _takes(2.5, 3, seed=25))  # a new word: chosen again
    assert back._fusion_choice == {}
