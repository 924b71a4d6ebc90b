"""Scores, threshold calibration and the Markdown/HTML report of ``lipauth eval``.

Thresholds are chosen on the tuning split at the equal-error point of that split; every
metric in the report is computed on the test split at that threshold (or threshold-free:
EER, BPCER at APCER x, FRR at FAR x), with percentile-bootstrap 95 % intervals. A test
split too small to resolve a metric is said so in the report (:data:`MIN_TEST_N`), never
topped up with tuning clips.
"""

from __future__ import annotations

import csv
import html
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import EnrolmentError, LipAuthError
from lipauth.eval.config import EvalConfig, EvalResult
from lipauth.eval.dataset import Dataset
from lipauth.eval.metrics import (
    apcer_bpcer,
    bootstrap_ci,
    bpcer_at_apcer,
    eer,
    far_frr,
    frr_at_far,
)

__all__ = ["MIN_TEST_N", "SCORE_COLUMNS", "metric_tables", "score_everything", "write_report"]

log = logging.getLogger(__name__)

#: fewer test attempts than this in a class (bona fide, one attack type, genuine, impostor)
#: is flagged in the report: one error then moves the rate by more than 3 points
MIN_TEST_N = 30

SCORE_COLUMNS = ("clip", "variant", "label", "kind", "split", "check", "target", "score", "score_used", "reasons", "error")


def _row(clip: str, variant: str, label: str, kind: str, split: str, check: str, target: str,
         score: float | None, reasons: Sequence[str], error: str | None) -> dict[str, Any]:
    return {"clip": clip, "variant": variant, "label": label, "kind": kind, "split": split, "check": check, "target": target,
            "score": score, "score_used": None, "reasons": "|".join(reasons), "error": error or ""}


def _floor_scores(rows: list[dict[str, Any]]) -> None:
    """Unscorable attempts (None) get a score below every observed one of their check."""
    for check in {r["check"] for r in rows}:
        finite = [r["score"] for r in rows if r["check"] == check and r["score"] is not None]
        floor = (min(finite) if finite else 0.0) - 1.0
        for r in rows:
            if r["check"] == check:
                r["score_used"] = r["score"] if r["score"] is not None else round(floor, 6)


def _password_rows(ds: Dataset, split: Mapping[str, str], results: Mapping[str, Any],
                   failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from lipauth.checks.password import (
        PasswordConfig,
        PasswordTake,
        check_password,
        enrol_password,
    )

    cfg = PasswordConfig()
    takes: dict[tuple[str, str], dict[str, list[tuple[str, PasswordTake]]]] = {}
    for row in sorted(ds.rows, key=lambda r: r.key):
        rec = results.get(row.key)
        if not (row.user and row.phrase and rec and rec["status"] == "ok"):
            continue
        pt = rec["result"].get("password_take")
        if not pt:
            continue
        if "error" in pt:
            failures.append({"clip": row.key, "label": row.label, "split": split[row.key], "stage": "password take",
                             "error": pt["error"], "message": pt["message"]})
            continue
        take = PasswordTake(sequence=np.asarray(pt["sequence"], dtype=np.float32), motion=pt["motion"],
                            duration_s=pt["duration_s"], source=row.key)
        takes.setdefault((row.user, row.phrase), {"tune": [], "test": []})[split[row.key]].append((row.key, take))

    def enrol(group: tuple[str, str], chosen: list[tuple[str, PasswordTake]], *, note: str) -> Any:
        if len(chosen) < cfg.min_takes:
            return None
        try:
            return enrol_password([t for _, t in chosen], label=f"{group[0]}/{group[1]}", config=cfg)
        except EnrolmentError as exc:
            failures.append({"clip": f"{group[0]}/{group[1]}", "label": "template", "split": note, "stage": "enrolment",
                             "error": exc.code, "message": str(exc)})
            return None

    templates = {g: enrol(g, v["tune"], note="tune") for g, v in sorted(takes.items())}
    rows: list[dict[str, Any]] = []

    def attempt(key: str, take: PasswordTake, group: tuple[str, str], target: tuple[str, str], tpl: Any, split_name: str) -> None:
        res = check_password(tpl, take)
        kind = "genuine" if group == target else "impostor"
        rows.append(_row(key, "original", kind, kind, split_name, "password", f"{target[0]}/{target[1]}",
                         round(float(res.score), 6), res.reasons, None))

    for group, parts in sorted(takes.items()):
        # tuning split: genuine = leave-one-out template of the other tune takes
        for k, (key, take) in enumerate(parts["tune"]):
            loo = enrol(group, parts["tune"][:k] + parts["tune"][k + 1:], note="tune (leave one out)")
            if loo is not None:
                attempt(key, take, group, group, loo, "tune")
            for target, tpl in templates.items():
                if target != group and tpl is not None:
                    attempt(key, take, group, target, tpl, "tune")
        for key, take in parts["test"]:
            for target, tpl in templates.items():
                # a group with no test take (all its clips pinned to tune, e.g. the clips a
                # shipped model was trained on) is for tuning only: not a test target either
                if tpl is not None and takes[target]["test"]:
                    attempt(key, take, group, target, tpl, "test")
    return rows


def score_everything(
    ds: Dataset, split: Mapping[str, str], results: Mapping[str, Any], cfg: EvalConfig
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Per-attempt score rows, tuned thresholds, test metrics and failures from the batch results."""
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for row in sorted(ds.rows, key=lambda r: r.key):
        rec = results[row.key]
        sp = split[row.key]
        kind = "bona_fide" if row.bona_fide else "attack"
        if rec["status"] == "error":
            err = rec["error"]
            failures.append({"clip": row.key, "label": row.label, "split": sp, "stage": "clip", "error": err["code"],
                             "message": err["message"]})
            if "sync" in cfg.checks:  # the liveness gate rejects what it cannot even read
                rows.append(_row(row.key, "original", row.label, kind, sp, "sync", "", None, (), err["code"]))
            continue
        for variant, r in sorted(rec["result"]["sync"].items()):
            label = row.label if variant == "original" else f"{variant} (generated)"
            vkind = kind if variant == "original" else "attack"
            if r["error"] == "no_donor":  # the attack could not be made: not a presentation
                failures.append({"clip": row.key, "label": label, "split": sp, "stage": f"generate {variant}",
                                 "error": r["error"], "message": r.get("message", "")})
                continue
            if r["error"]:
                failures.append({"clip": row.key, "label": label, "split": sp, "stage": f"sync ({variant})",
                                 "error": r["error"], "message": r.get("message", "")})
            rows.append(_row(row.key, variant, label, vkind, sp, "sync", "", r["score"], r["reasons"], r["error"]))
    if "password" in cfg.checks:
        rows.extend(_password_rows(ds, split, results, failures))
    _floor_scores(rows)
    pinned = [r for r in ds.rows if r.split]
    thresholds: dict[str, Any] = {"split": {"seed": cfg.seed, "tune_fraction": cfg.tune_fraction, "by": "clip (take)",
                                            "pinned_tune": sum(1 for r in pinned if r.split == "tune"),
                                            "pinned_test": sum(1 for r in pinned if r.split == "test"),
                                            "rule": "EER threshold of the tuning split"}}
    metrics: dict[str, Any] = {}
    n_boot = cfg.n_bootstrap
    sync = [r for r in rows if r["check"] == "sync"]
    if sync:
        thresholds["sync"], metrics["sync"] = _pad(sync, n_boot, cfg.seed)
    pw = [r for r in rows if r["check"] == "password"]
    if pw:
        thresholds["password"], metrics["password"] = _verification(pw, n_boot, cfg.seed)
    elif "password" in cfg.checks:
        metrics["password"] = {"note": "no attempt scored: needs rows with user and phrase, and a (user, phrase) with "
                                       "3 or more usable takes in the tuning split to enrol"}
    return rows, thresholds, metrics, failures


def _ci(metric: Any, *samples: Any, n: int, seed: int) -> list[float]:
    value, low, high = bootstrap_ci(metric, *samples, n_resamples=n, seed=seed)
    return [round(value, 4), round(low, 4), round(high, 4)]


def _tune_threshold(pos: np.ndarray, neg: np.ndarray, default: float | None) -> tuple[float | None, str]:
    if pos.size and neg.size:
        return float(eer(pos, neg)[1]), "EER point of the tuning split"
    return default, "no tuning data for both classes: shipped default"


def _small(counts: Mapping[str, int], n_negative: int, neg_rate: str) -> list[str]:
    """Why a test split is too small: classes under :data:`MIN_TEST_N`, unresolvable rates."""
    notes = [f"{name}: {n} attempt{'' if n == 1 else 's'} (< {MIN_TEST_N}; one error moves its rate by {100 / n:.1f} points)"
             for name, n in counts.items() if 0 < n < MIN_TEST_N]
    for level in (1.0, 0.1):
        if n_negative < 100 / level:
            notes.append(f"FRR at FAR {level:g}%: {n_negative} attack/impostor attempts cannot resolve a {neg_rate} of "
                         f"{level:g}% (needs {100 / level:.0f}); the value is the FRR at {neg_rate} 0")
    return notes


def _pad(rows: list[dict[str, Any]], n_boot: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def scores(split: str, kind: str, label: str | None = None) -> np.ndarray:
        return np.array([r["score_used"] for r in rows if r["split"] == split and r["kind"] == kind
                         and (label is None or r["label"] == label)], dtype=np.float64)

    tb, ta = scores("tune", "bona_fide"), scores("tune", "attack")
    from lipauth.checks.sync import load_sync_model

    thr, rule = _tune_threshold(tb, ta, float(load_sync_model().threshold))
    th = {"threshold": thr, "rule": rule, "n_tune_bona_fide": int(tb.size), "n_tune_attacks": int(ta.size),
          "score": "best audio-visual correlation near zero lag (lipauth.checks.sync)"}
    b = scores("test", "bona_fide")
    types = sorted({r["label"] for r in rows if r["split"] == "test" and r["kind"] == "attack"})
    attacks = {t: scores("test", "attack", t) for t in types}
    m: dict[str, Any] = {"n_bona_fide": int(b.size), "n_attacks": {t: int(a.size) for t, a in attacks.items()},
                         "threshold": thr}
    if not b.size or not attacks or thr is None:
        m["note"] = "test split lacks bona fide clips or attacks: no PAD metrics"
        return th, m
    per_type, worst, _bpcer = apcer_bpcer(b, attacks, thr)
    m["apcer"] = {t: _ci(lambda a, t=thr: float(np.mean(a >= t)), attacks[t], n=n_boot, seed=seed) for t in types}
    m["apcer_worst"] = [round(worst, 4), max(v[1] for v in m["apcer"].values()), max(v[2] for v in m["apcer"].values())]
    m["worst_type"] = max(per_type, key=lambda t: per_type[t])
    m["bpcer"] = _ci(lambda x, t=thr: float(np.mean(x < t)), b, n=n_boot, seed=seed)
    arrays = [attacks[t] for t in types]
    for level in (0.05, 0.10):
        m[f"bpcer_at_apcer_{int(level * 100)}"] = _ci(
            lambda x, *a, lv=level: bpcer_at_apcer(x, dict(zip(types, a, strict=True)), lv)[0], b, *arrays, n=n_boot, seed=seed)
    pooled = np.concatenate(arrays)
    m["small"] = _small({"bona fide": b.size} | {t: a.size for t, a in attacks.items()}, pooled.size, "FAR")
    m["eer"] = _ci(lambda g, i: eer(g, i)[0], b, pooled, n=n_boot, seed=seed)
    far, frr = far_frr(b, pooled, thr)
    m["far_frr"] = [round(far, 4), round(frr, 4)]
    m["frr_at_far_1"] = _ci(lambda g, i: frr_at_far(g, i, 0.01)[0], b, pooled, n=n_boot, seed=seed)
    m["frr_at_far_0.1"] = _ci(lambda g, i: frr_at_far(g, i, 0.001)[0], b, pooled, n=n_boot, seed=seed)
    return th, m


def _verification(rows: list[dict[str, Any]], n_boot: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def scores(split: str, kind: str) -> np.ndarray:
        return np.array([r["score_used"] for r in rows if r["split"] == split and r["kind"] == kind], dtype=np.float64)

    from lipauth.checks.password import DEFAULT_THRESHOLD

    tg, ti = scores("tune", "genuine"), scores("tune", "impostor")
    thr, rule = _tune_threshold(tg, ti, float(DEFAULT_THRESHOLD))
    th = {"threshold": thr, "rule": rule, "n_tune_genuine": int(tg.size), "n_tune_impostor": int(ti.size),
          "score": "1 - DTW distance / chance distance to the enrolled takes (lipauth.checks.password)"}
    g, i = scores("test", "genuine"), scores("test", "impostor")
    m: dict[str, Any] = {"n_genuine": int(g.size), "n_impostor": int(i.size), "threshold": thr}
    if not g.size or not i.size or thr is None:
        m["note"] = "test split lacks genuine or impostor attempts: no verification metrics"
        return th, m
    m["small"] = _small({"genuine": g.size, "impostor": i.size}, i.size, "FAR")
    m["far"] = _ci(lambda x, t=thr: float(np.mean(x >= t)), i, n=n_boot, seed=seed)
    m["frr"] = _ci(lambda x, t=thr: float(np.mean(x < t)), g, n=n_boot, seed=seed)
    m["eer"] = _ci(lambda a, b: eer(a, b)[0], g, i, n=n_boot, seed=seed)
    m["frr_at_far_1"] = _ci(lambda a, b: frr_at_far(a, b, 0.01)[0], g, i, n=n_boot, seed=seed)
    m["frr_at_far_0.1"] = _ci(lambda a, b: frr_at_far(a, b, 0.001)[0], g, i, n=n_boot, seed=seed)
    return th, m


# --------------------------------------------------------------------------------------
# writing


def _pct(v: Sequence[float] | None) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v[0]:.1f}% [{100 * v[1]:.1f}, {100 * v[2]:.1f}]"


def metric_tables(result: EvalResult) -> list[tuple[str, list[str], list[list[str]]]]:
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    m = result.metrics
    if "sync" in m and "apcer" in m["sync"]:
        s = m["sync"]
        rows = [[f"APCER {t}", str(s["n_attacks"][t]), _pct(v)] for t, v in s["apcer"].items()]
        rows += [
            [f"APCER worst ({s['worst_type']})", str(sum(s["n_attacks"].values())), _pct(s["apcer_worst"])],
            ["BPCER", str(s["n_bona_fide"]), _pct(s["bpcer"])],
            ["BPCER at APCER 5%", "", _pct(s["bpcer_at_apcer_5"])],
            ["BPCER at APCER 10%", "", _pct(s["bpcer_at_apcer_10"])],
            ["EER (all attacks pooled)", "", _pct(s["eer"])],
            ["FAR / FRR at the threshold", "", f"{100 * s['far_frr'][0]:.1f}% / {100 * s['far_frr'][1]:.1f}%"],
            ["FRR at FAR 1%", "", _pct(s["frr_at_far_1"])],
            ["FRR at FAR 0.1%", "", _pct(s["frr_at_far_0.1"])],
        ]
        tables.append((f"Liveness (sync), test split, threshold {s['threshold']:.4f} from the tuning split",
                       ["metric", "n", "value [95% CI]"], rows))
    if "password" in m and "far" in m["password"]:
        p = m["password"]
        rows = [
            ["FAR (impostor accepted)", str(p["n_impostor"]), _pct(p["far"])],
            ["FRR (genuine rejected)", str(p["n_genuine"]), _pct(p["frr"])],
            ["EER", "", _pct(p["eer"])],
            ["FRR at FAR 1%", "", _pct(p["frr_at_far_1"])],
            ["FRR at FAR 0.1%", "", _pct(p["frr_at_far_0.1"])],
        ]
        tables.append((f"Lip password, test split, threshold {p['threshold']:.4f} from the tuning split",
                       ["metric", "n", "value [95% CI]"], rows))
    names = {"sync": "Liveness (sync)", "password": "Lip password"}
    for check, m_check in m.items():
        if m_check.get("small"):
            title = f"{names.get(check, check)}: test split too small for some rates (not topped up with tuning clips)"
            tables.append((title, ["note"], [[n] for n in m_check["small"]]))
    for check, m_check in m.items():
        if "note" in m_check:
            tables.append((f"{check}: not measured", ["note"], [[m_check["note"]]]))
    return tables


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _plots(result: EvalResult) -> dict[str, Path]:
    from lipauth.eval.plots import plot_det, plot_score_histograms

    out: dict[str, Path] = {}
    rows = [r for r in result.scores if r["split"] == "test"]
    sync = [r for r in rows if r["check"] == "sync"]
    b = [r["score_used"] for r in sync if r["kind"] == "bona_fide"]
    types = sorted({r["label"] for r in sync if r["kind"] == "attack"})
    if b and types:
        systems = {f"sync vs {t}": (b, [r["score_used"] for r in sync if r["label"] == t and r["kind"] == "attack"]) for t in types}
        systems["sync vs all attacks"] = (b, [r["score_used"] for r in sync if r["kind"] == "attack"])
        out["det_sync"] = plot_det(systems, result.out_dir / "det_sync.png", title="Liveness (sync), test split",
                                   x_label="APCER", y_label="BPCER")
        groups = {"bona fide": b} | {t: systems[f"sync vs {t}"][1] for t in types}
        out["hist_sync"] = plot_score_histograms(groups, result.out_dir / "hist_sync.png",
                                                 threshold=result.thresholds["sync"]["threshold"], title="sync scores, test split")
    pw = [r for r in rows if r["check"] == "password"]
    g = [r["score_used"] for r in pw if r["kind"] == "genuine"]
    i = [r["score_used"] for r in pw if r["kind"] == "impostor"]
    if g and i:
        out["det_password"] = plot_det({"lip password": (g, i)}, result.out_dir / "det_password.png",
                                       title="Lip password, test split", x_label="FAR", y_label="FRR")
        out["hist_password"] = plot_score_histograms({"genuine": g, "impostor": i}, result.out_dir / "hist_password.png",
                                                     threshold=result.thresholds["password"]["threshold"],
                                                     title="lip password scores, test split")
    return out


def write_report(result: EvalResult, cfg: EvalConfig, *, formats: Sequence[str] = ("csv",)) -> dict[str, Path]:
    """Write ``scores.csv`` (+ ``scores.parquet``), ``thresholds.json``, PNGs, ``report.md`` and ``report.html``."""
    out = result.out_dir
    files: dict[str, Path] = {}
    files["scores_csv"] = out / "scores.csv"
    with open(files["scores_csv"], "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SCORE_COLUMNS))
        w.writeheader()
        for r in result.scores:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in SCORE_COLUMNS})
    if "parquet" in formats:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({k: [r[k] for r in result.scores] for k in SCORE_COLUMNS})
        files["scores_parquet"] = out / "scores.parquet"
        pq.write_table(table, files["scores_parquet"])
    files["thresholds"] = out / "thresholds.json"
    files["thresholds"].write_text(json.dumps(result.thresholds, indent=2, allow_nan=False) + "\n")
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2, allow_nan=False) + "\n")
    files["metrics"] = out / "metrics.json"
    try:
        files.update(_plots(result))
    except LipAuthError as exc:  # e.g. a single-valued score set: report without the plot
        log.warning("plots skipped: %s", exc)
    ds = result.dataset
    n_tune = sum(1 for v in result.split.values() if v == "tune")
    n_pin_tune = sum(1 for r in ds.rows if r.split == "tune")
    n_pin_test = sum(1 for r in ds.rows if r.split == "test")
    intro = [
        f"Dataset: `{ds.source}` (paths relative to `{ds.root}`): {len(ds.rows)} clips present, {len(ds.missing)} missing.",
        (f"Checks: {', '.join(cfg.checks)}. Generated attacks from bona fide clips: {', '.join(cfg.generate) or 'none'} "
        f"(shift = audio rolled {cfg.shift_ms:g} ms; swap = another bona fide clip's audio; still = frame 0 held and "
        f"re-tracked, a photo; replay = the first {cfg.replay_period_s:g} s of lip track looped, with the live audio); "
        "they are labelled '<type> (generated)', apart from recorded attacks of the same type."),
        (f"Split: by clip (take); {n_pin_tune} clips pinned to tune and {n_pin_test} to test by the dataset's split "
        f"column; the other {len(ds.rows) - n_pin_tune - n_pin_test} split with seed {cfg.seed}, tune fraction "
        f"{cfg.tune_fraction:g}, stratified by (label, user, phrase): {n_tune} clips tune, {len(result.split) - n_tune} "
        "test in all; generated attacks follow their source clip. Lip-password test attempts only target (user, "
        "phrase) groups that have test takes (a group pinned wholly to tune serves tuning only)."),
        "Thresholds: EER point of the tuning split (thresholds.json); every number below is on the test split. "
        "Intervals: percentile bootstrap, 95%, " + f"{cfg.n_bootstrap} resamples.",
        ("Failures: a clip or attack the check cannot score (undecodable, still image, no face, silent audio, or the "
        "check's own gate such as STILL_FACE_WITH_VOICE) is counted as rejected: a detected attack, or a bona fide "
        "rejection. Clips without audio are not scored by sync."),
    ]
    tables = metric_tables(result)
    fail_rows = [[f["clip"], f["label"], f["split"], f["stage"], f["error"], f["message"][:160]] for f in result.failures]
    miss_rows = [[r.path, str(r.line), r.label] for r in ds.missing]
    images = [p.name for k, p in files.items() if k.startswith(("det_", "hist_"))]
    md = ["# lipauth evaluation report", ""] + [f"- {line}" for line in intro] + [""]
    for title, head, rows in tables:
        md += [f"## {title}", "", _md_table(head, rows), ""]
    md += ["## Plots", ""] + [f"![{n}]({n})" for n in images] + [""]
    md += [f"## Failures ({len(fail_rows)})", ""]
    md += [_md_table(["clip", "label", "split", "stage", "error", "message"], fail_rows) if fail_rows else "none", ""]
    md += [f"## Missing clips ({len(miss_rows)})", ""]
    md += [_md_table(["path", "CSV line", "label"], miss_rows) if miss_rows else "none", ""]
    files["report_md"] = out / "report.md"
    files["report_md"].write_text("\n".join(md))
    body = ["<h1>lipauth evaluation report</h1>", "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in intro) + "</ul>"]
    for title, head, rows in tables:
        body += [f"<h2>{html.escape(title)}</h2>", _html_table(head, rows)]
    body += ["<h2>Plots</h2>"] + [f'<img src="{html.escape(n)}" alt="{html.escape(n)}">' for n in images]
    body += [f"<h2>Failures ({len(fail_rows)})</h2>",
             _html_table(["clip", "label", "split", "stage", "error", "message"], fail_rows) if fail_rows else "<p>none</p>"]
    body += [f"<h2>Missing clips ({len(miss_rows)})</h2>",
             _html_table(["path", "CSV line", "label"], miss_rows) if miss_rows else "<p>none</p>"]
    style = "body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    files["report_html"] = out / "report.html"
    files["report_html"].write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>lipauth evaluation</title>"
                                    f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
    return files
