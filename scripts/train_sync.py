"""Train the shipped audio-visual sync towers and choose their thresholds on held-out people.

Writes ``src/lipauth/checks/models/sync_towers.npz`` (linear towers fitted by canonical
correlation analysis in numpy: 16 canonical pairs weighted by their canonical correlations,
the lag curve pooled as a normalised cross-correlation) and prints the leave-people-out
table of ``docs/sync.md``.

Data: every real talking clip in ``../shared/data`` (``scripts/sync_data.py``: GRID s1,
the two talking heads, the 26 people of ``av_speakers``; clips with all-zero audio and the
two-face interview are left out: 27 people), cut into pieces of about 4 s.

1. **Leave people out** (``--folds``, people dealt round-robin in name order; a person's
   clips are all on one side): towers trained on the other folds' people score the
   held-out people's pieces: their own audio, the audio shifted by +-100..1000 ms, another
   person's audio, the same person's other sentence (GRID s1), and a still face with the
   voice.
2. **Threshold**: for each fold, the threshold is chosen on the OTHER folds' out-of-fold
   scores (the highest that rejects at most ``--max-reject`` of genuine pieces, person
   balanced), then applied to the fold: the table reports only people whose threshold
   never saw them. The shipped threshold is chosen on all out-of-fold scores.
3. **The shipped towers** are then trained on everyone, except the GRID s1 clips that
   ``benchmarks/shared_data.csv`` pins to its test split (so ``lipauth eval``'s test split
   holds no clip a shipped model was trained on).

``--mlp`` trains small MLP towers contrastively instead (PyTorch, ``pip install
torch==2.13.0`` in a separate environment: the test suite checks that lipauth runs without
it); measured no better on held-out people (docs/notes/sync.md). Usage::

    .venv/bin/python scripts/train_sync.py [--folds 4] [--no-write] [--rows oof.csv]
    .venv/bin/python scripts/train_sync.py --no-write --components 4 --weighting none --pooling cosine   # session 6
    .venv/bin/python scripts/train_sync.py --no-write --reg 0.1 --score product \
        --components 4 --weighting none --pooling cosine                                # session 5
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_data import DATA, SyncClip, load_corpus  # noqa: E402

from lipauth.checks.sync import LAG_MIN_SHARE, sync_score  # noqa: E402
from lipauth.checks.sync_model import HOP_S, SyncModel, audio_grid, lag_curve, lip_windows  # noqa: E402
from lipauth.eval.attacks import shift_audio, swap_audio  # noqa: E402
from lipauth.types import Audio, LipFeatures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "lipauth" / "checks" / "models" / "sync_towers.npz"
PIECE_S = 4.0
#: length of the short windows cut from each held-out piece (own audio, +-500 ms, another person)
SHORT_S = 1.5
SHIFTS_MS = (100, -100, 200, -200, 300, -300, 500, -500, 1000, -1000)
LAGS_MS = np.arange(-1000, 1001, 10.0)
TOLERANCE_MS = 150.0
HIDDEN, EMBED = 128, 64
#: what-if switches of the leave-people-out run (--reg, --score, --components, --weighting,
#: --pooling, --min-share); the shipped values are the defaults
SHIPPED: dict = {"reg": 1.0, "score": "margin", "min_share": LAG_MIN_SHARE, "components": 16, "weighting": "canonical",
                 "pooling": "correlation"}
OPTIONS: dict = dict(SHIPPED)

log = logging.getLogger("train_sync")


# --------------------------------------------------------------------------------------
# pieces


def crop_features(features: LipFeatures, t0: float, t1: float) -> LipFeatures:
    """The frames with ``t0 <= t < t1`` of a LipFeatures (frame-level arrays only)."""
    sel = (features.timestamps_s >= t0) & (features.timestamps_s < t1)
    kw = {}
    for f in dataclasses.fields(features):
        v = getattr(features, f.name)
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == features.n_frames:
            kw[f.name] = v[sel]
    return dataclasses.replace(features, **kw)


def crop_audio(audio: Audio, t0: float, t1: float) -> Audio:
    """The samples of ``audio`` between ``t0`` and ``t1`` (video axis)."""
    i0 = max(0, int(round((t0 - audio.start_s) * audio.sample_rate)))
    i1 = max(i0, int(round((t1 - audio.start_s) * audio.sample_rate)))
    return dataclasses.replace(audio, samples=audio.samples[i0:i1], start_s=audio.start_s + i0 / audio.sample_rate)


@dataclasses.dataclass
class Piece:
    person: str
    name: str
    features: LipFeatures
    audio: Audio


def pieces(clips: list[SyncClip], piece_s: float = PIECE_S) -> list[Piece]:
    """Each clip cut into equal pieces of about ``piece_s`` (a shorter clip stays whole)."""
    out = []
    for c in clips:
        f = dataclasses.replace(c.features, landmarks=c.landmarks) if c.landmarks is not None else c.features
        t = f.timestamps_s
        n = max(1, int((t[-1] - t[0]) // piece_s))
        edges = np.linspace(t[0], t[-1] + 1e-6, n + 1)
        for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            pf = crop_features(f, a, b)
            if pf.n_frames >= 20 and pf.valid.sum() >= 20:
                out.append(Piece(c.person, f"{c.name}#{k}", pf, crop_audio(c.audio, a, b)))
    return out


# --------------------------------------------------------------------------------------
# training (torch)

PROTO = SyncModel(lip_layers=(), audio_layers=(), tolerance_ms=TOLERANCE_MS)


def _arrays(ps: list[Piece]) -> dict:
    """Lip windows per usable frame and one concatenated log-mel grid, for sampling."""
    steps = np.round(np.asarray(PROTO.audio_taps_s) / HOP_S).astype(np.int64)
    lips, gidx, lo, hi, weight, mels, ins = [], [], [], [], [], [], []
    base = 0
    frames_of = collections.Counter()
    for p in ps:
        frames_of[p.person] += int(p.features.valid.sum())
    for p in ps:
        f, t = p.features, p.features.timestamps_s
        g0, mel, inside = audio_grid(p.audio, float(t[0]) - 1.2, float(t[-1]) + 1.2, PROTO)
        use = f.valid
        lips.append(lip_windows(f, PROTO, use)[use].astype(np.float32))
        g = np.round((t[use] - g0) / HOP_S).astype(np.int64) + base
        gidx.append(g)
        lo.append(np.full(g.size, base))
        hi.append(np.full(g.size, base + mel.shape[0] - 1))
        weight.append(np.full(g.size, 1.0 / frames_of[p.person]))
        mels.append(mel.astype(np.float32))
        ins.append(inside)
        base += mel.shape[0]
    w = np.concatenate(weight)
    return {"lips": np.concatenate(lips), "g": np.concatenate(gidx), "lo": np.concatenate(lo),
            "hi": np.concatenate(hi), "p": w / w.sum(), "mel": np.concatenate(mels), "steps": steps}


def train_towers(ps: list[Piece], *, steps: int, seed: int = 0) -> SyncModel:
    """Contrastive training: a lip window against its voice, 8 voices of the same clip
    150-1000 ms away and 8 voices of other clips (person-balanced sampling)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    d = _arrays(ps)
    mel = torch.tensor(d["mel"])
    n_lip, n_aud = d["lips"].shape[1], d["mel"].shape[1] * d["steps"].size
    lip_net = nn.Sequential(nn.Linear(n_lip, HIDDEN), nn.ReLU(), nn.Dropout(0.1), nn.Linear(HIDDEN, EMBED))
    aud_net = nn.Sequential(nn.Linear(n_aud, HIDDEN), nn.ReLU(), nn.Dropout(0.1), nn.Linear(HIDDEN, EMBED))
    scale = nn.Parameter(torch.tensor(10.0))
    opt = torch.optim.Adam([*lip_net.parameters(), *aud_net.parameters(), scale], lr=1e-3, weight_decay=1e-4)

    def windows(g: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> torch.Tensor:
        idx = np.clip(g[..., None] + d["steps"], lo[..., None], hi[..., None])
        return mel[torch.tensor(idx)].reshape(*g.shape, -1)

    batch, k_same, k_other = 128, 8, 8
    for step in range(steps):
        i = rng.choice(d["g"].size, batch, p=d["p"])
        offs = np.round(rng.choice([-1, 1], (batch, k_same)) * rng.uniform(15, 100, (batch, k_same))).astype(np.int64)
        g = np.c_[d["g"][i], d["g"][i][:, None] + offs]
        lo, hi = np.repeat(d["lo"][i][:, None], k_same + 1, 1), np.repeat(d["hi"][i][:, None], k_same + 1, 1)
        j = rng.choice(d["g"].size, (batch, k_other), p=d["p"])
        a = torch.cat([windows(g, lo, hi), windows(d["g"][j], d["lo"][j], d["hi"][j])], dim=1)
        el = nn.functional.normalize(lip_net(torch.tensor(d["lips"][i])), dim=-1)
        ea = nn.functional.normalize(aud_net(a.reshape(-1, n_aud)), dim=-1).reshape(batch, -1, EMBED)
        logits = scale * (ea * el[:, None, :]).sum(-1)
        loss = nn.functional.cross_entropy(logits, torch.zeros(batch, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            log.info("  step %d: loss %.3f", step, float(loss.detach()))

    def layers(net: nn.Sequential) -> tuple:
        lin = [m for m in net if isinstance(m, nn.Linear)]
        return tuple((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in lin)

    return dataclasses.replace(PROTO, lip_layers=layers(lip_net), audio_layers=layers(aud_net))


# --------------------------------------------------------------------------------------
# scoring


def stats(model: SyncModel, features: LipFeatures, audio: Audio) -> tuple[float, float, float]:
    """(score, confidence, offset_ms) as check_sync computes them; NaNs when unusable."""
    try:
        r = lag_curve(features, audio, lags_ms=LAGS_MS, model=model, min_share=OPTIONS["min_share"])
    except Exception:  # noqa: BLE001 (an unusable negative is a rejection)
        return float("nan"), float("nan"), float("nan")
    if not np.any(np.isfinite(r)):
        return float("nan"), float("nan"), float("nan")
    agreement, confidence, score = sync_score(r, LAGS_MS, model.tolerance_ms, model.far_ms)
    if OPTIONS["score"] == "product":  # the previous score: agreement x robust z (docs/notes/sync.md)
        score = max(agreement, 0.0) * max(confidence, 0.0)
    return score, confidence, float(LAGS_MS[np.nanargmax(r)])


def still_face(features: LipFeatures) -> LipFeatures:
    """The first usable frame held for the whole piece (a photo with the voice)."""
    i = int(np.flatnonzero(features.valid)[0])
    n = features.n_frames
    return dataclasses.replace(features, landmarks=np.repeat(features.landmarks[i : i + 1], n, axis=0),
                               shape=np.repeat(features.shape[i : i + 1], n, axis=0))


def gated_stats(model: SyncModel, features: LipFeatures, audio: Audio) -> tuple[float, float, float]:
    """(score, confidence, offset_ms) through ``check_sync`` itself (its gates: a still face
    with a voice scores NaN); NaNs when the check refuses the input."""
    from lipauth.checks.sync import check_sync
    from lipauth.errors import LipAuthError

    try:
        r = check_sync(features, audio, model=model, threshold=0.0)
    except LipAuthError:
        return float("nan"), float("nan"), float("nan")
    return r.score, r.confidence, r.offset_ms


def speech_seconds(features: LipFeatures, audio: Audio) -> float:
    """Voiced seconds (WebRTC VAD) on frames with a face, as ``check_sync`` reports ``speech_s``."""
    from lipauth.features.audio import voice_activity

    t = features.timestamps_s
    frame_s = float(np.median(np.diff(t))) if t.size > 1 else 0.04
    return float(voice_activity(audio, timestamps_s=t)[features.valid].sum()) * frame_s


def short_cases(p: Piece, donor: Piece) -> list[tuple[str, LipFeatures, Audio]]:
    """A ``SHORT_S`` window in the middle of the piece: own audio, shifted +-500 ms, another person's."""
    t = p.features.timestamps_s
    if t[-1] - t[0] < SHORT_S + 0.2:
        return []
    mid = 0.5 * (t[0] + t[-1])
    a0, a1 = mid - SHORT_S / 2, mid + SHORT_S / 2
    f, a = crop_features(p.features, a0, a1), crop_audio(p.audio, a0, a1)
    if f.valid.sum() < 10:
        return []
    return [("short_genuine", f, a), ("short_shift+500", f, shift_audio(a, 500)), ("short_shift-500", f, shift_audio(a, -500)),
            ("short_other_person", f, swap_audio(a, donor.audio))]


def score_fold(model: SyncModel, test: list[Piece], donors: list[Piece], rng: np.random.Generator) -> list[dict]:
    """Rows (person, piece, kind, score, confidence, offset) for the held-out pieces."""
    rows = []
    for p in test:
        f, a = p.features, p.audio
        dur = round(float(f.timestamps_s[-1] - f.timestamps_s[0]), 2)
        cases = [("genuine", a)] + [(f"shift{s:+d}", shift_audio(a, s)) for s in SHIFTS_MS]
        cases += [("other_person", swap_audio(a, donors[j].audio)) for j in rng.choice(len(donors), 3, replace=False)]
        same = [q for q in test if q.person == p.person and q.name.split("#")[0] != p.name.split("#")[0]]
        if p.person == "grid_s1" and same:
            cases += [("same_person_other_sentence", swap_audio(a, same[j].audio)) for j in rng.choice(len(same), 2)]
        for kind, audio in cases:
            s, z, off = stats(model, f, audio)
            rows.append({"person": p.person, "piece": p.name, "duration_s": dur, "kind": kind, "score": s,
                         "confidence": z, "offset_ms": off})
        s, z, off = gated_stats(model, still_face(f), a)
        rows.append({"person": p.person, "piece": p.name, "duration_s": dur, "kind": "still_face", "score": s,
                     "confidence": z, "offset_ms": off})
        for kind, sf, sa in short_cases(p, donors[int(rng.integers(len(donors)))]):
            s, z, off = stats(model, sf, sa)
            rows.append({"person": p.person, "piece": p.name, "duration_s": SHORT_S, "kind": kind, "score": s,
                         "confidence": z, "offset_ms": off, "speech_s": round(speech_seconds(sf, sa), 2)})
    return rows


# --------------------------------------------------------------------------------------
# thresholds


def accepts(rows: list[dict], thr: float) -> np.ndarray:
    return np.nan_to_num(np.array([r["score"] for r in rows], float), nan=-9.0) >= thr


def choose_threshold(rows: list[dict], max_reject: float) -> float:
    """The highest threshold that rejects at most ``max_reject`` of the genuine pieces,
    person-balanced (each person weighs the same however many pieces they have)."""
    gen = [r for r in rows if r["kind"] == "genuine"]
    per = collections.Counter(r["person"] for r in gen)
    w = np.array([1.0 / per[r["person"]] for r in gen])
    s = np.nan_to_num(np.array([r["score"] for r in gen], float), nan=-9.0)
    order = np.argsort(s)
    rejected = np.cumsum(w[order]) / w.sum()  # share rejected by a threshold just above s[order[i]]
    k = int(np.searchsorted(rejected, max_reject, side="right"))
    return float(s[order[k]]) if k < s.size else float(s.max())


# --------------------------------------------------------------------------------------
# leave people out


def folds_of(people: list[str], k: int) -> list[list[str]]:
    """People dealt round-robin (name order) into ``k`` folds."""
    return [people[i::k] for i in range(k)]


def fit_linear(ps: list[Piece]) -> SyncModel:
    """The shipped kind of towers: linear, by canonical correlation analysis (numpy)."""
    from lipauth.checks.sync_model import fit_sync_model

    model = fit_sync_model([(p.features, p.audio) for p in ps], regularisation=OPTIONS["reg"],
                           n_components=OPTIONS["components"], weighting=OPTIONS["weighting"],
                           pooling=OPTIONS["pooling"])
    return dataclasses.replace(model, tolerance_ms=TOLERANCE_MS)


def leave_people_out(ps: list[Piece], *, k: int, max_reject: float, mlp_steps: int = 0) -> list[dict]:
    """Out-of-fold rows, each with the verdict under thresholds chosen without its fold."""
    people = sorted({p.person for p in ps})
    rng = np.random.default_rng(0)
    rows: list[dict] = []
    for i, test_people in enumerate(folds_of(people, k)):
        log.info("fold %d/%d: held out %s", i + 1, k, ", ".join(test_people))
        train = [p for p in ps if p.person not in test_people]
        model = train_towers(train, steps=mlp_steps, seed=i) if mlp_steps else fit_linear(train)
        test = [p for p in ps if p.person in test_people]
        for r in score_fold(model, test, train, rng):
            r["fold"] = i
            rows.append(r)
    for i in range(k):
        thr = choose_threshold([r for r in rows if r["fold"] != i], max_reject)
        mine = [r for r in rows if r["fold"] == i]
        for r, ok in zip(mine, accepts(mine, thr)):
            r["accepted"] = bool(ok)
            r["threshold"] = thr
    return rows


def report(rows: list[dict]) -> str:
    """The by-person table (markdown) and the summary lines."""
    people = sorted({r["person"] for r in rows})
    lines = ["| person | pieces | own audio accepted | shift 100/200 ms rejected | shift >= 300 ms rejected | "
             "other person rejected | still face rejected | offset within 40 ms | offset median, ms |", "|---" * 9 + "|"]
    agg: dict[str, list[bool]] = collections.defaultdict(list)
    per_person_acc = []
    for person in people:
        mine = [r for r in rows if r["person"] == person]

        def share(pred, want_accept: bool, mine=mine) -> tuple[int, int]:
            sel = [r for r in mine if pred(r["kind"])]
            good = [r["accepted"] == want_accept for r in sel]
            return sum(good), len(good)

        gen = share(lambda k: k == "genuine", True)
        small = share(lambda k: k.startswith("shift") and abs(int(k[5:])) < 300, False)
        big = share(lambda k: k.startswith("shift") and abs(int(k[5:])) >= 300, False)
        other = share(lambda k: k == "other_person", False)
        still = share(lambda k: k == "still_face", False)
        offs = [abs(r["offset_ms"]) <= 40 for r in mine if r["kind"] == "genuine" and np.isfinite(r["offset_ms"])]
        for key, (a, n) in (("genuine", gen), ("shift<300", small), ("shift>=300", big), ("other", other), ("still", still)):
            agg[key] += [True] * a + [False] * (n - a)
        agg["offset"] += offs
        per_person_acc.append(gen[0] / max(gen[1], 1))
        cell = lambda an: f"{an[0]}/{an[1]}"  # noqa: E731
        med = np.median([r["offset_ms"] for r in mine if r["kind"] == "genuine" and np.isfinite(r["offset_ms"])] or [np.nan])
        lines.append(f"| {person} | {gen[1]} | {cell(gen)} | {cell(small)} | {cell(big)} | {cell(other)} | {cell(still)} | "
                     f"{sum(offs)}/{len(offs)} | {med:+.0f} |")
    same = [r["accepted"] is False for r in rows if r["kind"] == "same_person_other_sentence"]
    pct = lambda v: f"{100 * np.mean(v):.1f} %" if len(v) else "n/a"  # noqa: E731
    lines += ["", f"own audio accepted: {pct(agg['genuine'])} of pieces; people with >= 97 % accepted: "
              f"{sum(a >= 0.97 for a in per_person_acc)}/{len(per_person_acc)}",
              f"rejected: shifts 100-200 ms {pct(agg['shift<300'])}, shifts >= 300 ms {pct(agg['shift>=300'])}, "
              f"another person's audio {pct(agg['other'])}, same person's other sentence {pct(same)}, "
              f"still face with the voice {pct(agg['still'])}",
              f"offset within 40 ms of 0 on genuine pieces: {pct(agg['offset'])}"]
    for lo, hi in ((0.0, 2.5), (2.5, 99.0)):  # GRID clips span 2.96 s: "3-s clips" are the second bucket
        sel = [r for r in rows if lo <= float(r.get("duration_s", 4.0)) < hi]
        g = [r["accepted"] for r in sel if r["kind"] == "genuine"]
        o = [not r["accepted"] for r in sel if r["kind"] == "other_person"]
        lines.append(f"pieces of {lo:g}-{hi:g} s: own audio accepted {pct(g)} ({len(g)}), another person's audio "
                     f"rejected {pct(o)}")
    lines += offset_lines(rows) + short_lines(rows, pct)
    gen_s = [r["score"] for r in rows if r["kind"] == "genuine"]
    for kind, pred in (("shift >= 300 ms", lambda k: k.startswith("shift") and abs(int(k[5:])) >= 300),
                       ("other person", lambda k: k == "other_person")):
        neg = [r["score"] for r in rows if pred(r["kind"])]
        lines.append(f"ROC AUC genuine vs {kind} (score): {auc(gen_s, neg):.3f}")
    return "\n".join(lines)


def offset_lines(rows: list[dict]) -> list[str]:
    """The offset error on own audio (all pieces, and its spread around each person's median)
    and on shifted copies relative to the piece's own-audio estimate."""
    gen = {r["piece"]: r for r in rows if r["kind"] == "genuine" and np.isfinite(r["offset_ms"])}
    err = np.abs([r["offset_ms"] for r in gen.values()])
    per: dict[str, list[float]] = collections.defaultdict(list)
    for r in gen.values():
        per[r["person"]].append(r["offset_ms"])
    meds = {k: float(np.median(v)) for k, v in per.items()}
    spread = np.abs([r["offset_ms"] - meds[r["person"]] for r in gen.values()])
    rel = [abs(r["offset_ms"] - gen[r["piece"]]["offset_ms"] - int(r["kind"][5:])) <= 40 for r in rows
           if r["kind"].startswith("shift") and abs(int(r["kind"][5:])) <= 500 and r["piece"] in gen
           and np.isfinite(r["offset_ms"])]
    q = np.percentile(err, [50, 75, 90])
    return [f"offset error on own audio: median {q[0]:.0f} ms, 75th percentile {q[1]:.0f} ms, 90th {q[2]:.0f} ms; "
            f"people's median offsets {min(meds.values()):+.0f}..{max(meds.values()):+.0f} ms "
            f"(within 40 ms of 0 for {sum(abs(m) <= 40 for m in meds.values())}/{len(meds)} people)",
            f"offset within 40 ms of the person's own median: {100 * np.mean(spread <= 40):.1f} % of pieces; "
            f"shifted copies (100-500 ms): within 40 ms of the piece's own offset + the shift: {100 * np.mean(rel):.1f} %"]


def short_lines(rows: list[dict], pct) -> list[str]:
    """The ``SHORT_S`` windows, at the thresholds chosen on full pieces."""
    g = [r for r in rows if r["kind"] == "short_genuine"]
    if not g:
        return []
    sh = [not r["accepted"] for r in rows if r["kind"].startswith("short_shift")]
    o = [not r["accepted"] for r in rows if r["kind"] == "short_other_person"]
    sp = np.percentile([r["speech_s"] for r in g], [10, 50])
    return [f"{SHORT_S:g}-s windows ({len(g)}, speech {sp[1]:.2f} s median, {sp[0]:.2f} s 10th percentile): own audio "
            f"accepted {pct([r['accepted'] for r in g])}, shifted +-500 ms rejected {pct(sh)}, another person's "
            f"audio rejected {pct(o)}; AUC own vs shifted / other "
            f"{auc([r['score'] for r in g], [r['score'] for r in rows if r['kind'].startswith('short_shift')]):.3f} / "
            f"{auc([r['score'] for r in g], [r['score'] for r in rows if r['kind'] == 'short_other_person']):.3f}"]


def auc(pos: list[float], neg: list[float]) -> float:
    p = np.nan_to_num(np.asarray(pos, float), nan=-9.0)[:, None]
    n = np.nan_to_num(np.asarray(neg, float), nan=-9.0)[None, :]
    return float(np.mean(p > n) + 0.5 * np.mean(p == n))


def eval_test_clips() -> set[str]:
    """Corpus names (``grid_s1/<stem>``) of the GRID s1 clips pinned to ``lipauth eval``'s test split."""
    path = ROOT / "benchmarks" / "shared_data.csv"
    with path.open() as fh:
        return {"grid_s1/" + Path(r["path"]).stem for r in csv.DictReader(fh)
                if r["split"] == "test" and r["path"].startswith("grid_s1/")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--max-reject", type=float, default=0.03, help="genuine pieces rejected at most (person-balanced)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rows", type=Path, default=None, help="write the out-of-fold rows as CSV")
    parser.add_argument("--no-write", action="store_true", help="evaluate only; do not train the shipped towers")
    parser.add_argument("--mlp", action="store_true", help="train MLP towers with PyTorch instead of the linear CCA towers")
    parser.add_argument("--from-rows", type=Path, default=None,
                        help="skip the folds: choose the thresholds from out-of-fold rows written by --rows")
    parser.add_argument("--reg", type=float, default=1.0, help="CCA ridge (what-if; shipped 1.0)")
    parser.add_argument("--score", choices=("margin", "product"), default="margin",
                        help="what-if: 'product' = the previous score (agreement x robust z)")
    parser.add_argument("--min-share", type=float, default=LAG_MIN_SHARE,
                        help="what-if: lags on fewer than this share of the frames are left out")
    parser.add_argument("--components", type=int, default=SHIPPED["components"], help="what-if: canonical pairs kept")
    parser.add_argument("--weighting", choices=("canonical", "none"), default=SHIPPED["weighting"],
                        help="what-if: 'none' = every canonical pair weighs the same")
    parser.add_argument("--pooling", choices=("correlation", "cosine"), default=SHIPPED["pooling"],
                        help="what-if: 'cosine' = the mean of per-frame cosines (the previous lag curve)")
    args = parser.parse_args()
    OPTIONS.update(reg=args.reg, score=args.score, min_share=args.min_share, components=args.components,
                   weighting=args.weighting, pooling=args.pooling)
    if OPTIONS != SHIPPED and not args.no_write:
        parser.error("--reg/--score/--min-share/--components/--weighting/--pooling are what-ifs: pass --no-write")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ps = pieces(load_corpus(DATA))
    log.info("%d pieces of %d people", len(ps), len({p.person for p in ps}))
    if args.from_rows:
        with args.from_rows.open() as fh:
            rows = [{**r, "score": float(r["score"]), "confidence": float(r["confidence"]), "fold": int(r["fold"]),
                     "offset_ms": float(r["offset_ms"]), "accepted": r["accepted"] == "True"} for r in csv.DictReader(fh)]
        span = {p.name: round(float(p.features.timestamps_s[-1] - p.features.timestamps_s[0]), 2) for p in ps}
        for r in rows:
            r["duration_s"] = float(r.get("duration_s") or span.get(r["piece"], float("nan")))
            if r.get("speech_s"):
                r["speech_s"] = float(r["speech_s"])
    else:
        rows = leave_people_out(ps, k=args.folds, max_reject=args.max_reject, mlp_steps=args.steps if args.mlp else 0)
    if args.rows:
        with args.rows.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            w.writeheader()
            w.writerows(rows)
    print(report(rows))
    if args.no_write:
        return
    thr = choose_threshold(rows, args.max_reject)
    people = sorted({p.person for p in ps})
    held = eval_test_clips()
    final = [p for p in ps if p.name.split("#")[0] not in held]
    log.info("shipped towers: %d pieces (%d GRID s1 clips of lipauth eval's test split left out)", len(final), len(held))
    towers = f"MLP towers, {args.steps} steps" if args.mlp else f"linear CCA towers ({OPTIONS['components']} pairs)"
    model = dataclasses.replace(
        train_towers(final, steps=args.steps, seed=100) if args.mlp else fit_linear(final),
        threshold=thr,
        trained_on=(f"{len(people)} people of ../shared/data (GRID s1, talking heads, av_speakers), {len(ps)} pieces of "
                    f"<= {PIECE_S:g} s (without the {len(held)} GRID s1 clips of benchmarks/shared_data.csv's test "
                    f"split), {towers}; threshold {thr:.3f} chosen on "
                    f"{args.folds}-fold leave-people-out scores (genuine rejected <= {100 * args.max_reject:g} %)"),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {model.trained_on}")


if __name__ == "__main__":
    main()
