"""Pictures for people: a mouth plot of a LipTrack and a landmark overlay video.

Matplotlib (Agg) and OpenCV are imported on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.types import LIP_GROUPS, Audio, CheckResult, LipFeatures, LipTrack, QualityFlag, Video

__all__ = ["plot_track", "plot_features", "draw_overlay", "overlay_frames", "plot_sync", "plot_timeline", "plot_format"]

_FLAG_ROWS = (
    QualityFlag.NO_FACE,
    QualityFlag.FACE_TOO_SMALL,
    QualityFlag.EXTREME_POSE,
    QualityFlag.TOO_DARK,
    QualityFlag.BLURRED,
    QualityFlag.MULTIPLE_FACES,
)


def plot_format(path: str | Path, *, png_only: bool = False) -> str:
    """The format a plot is written in at ``path``: its suffix when Matplotlib writes it (``png``,
    ``svg``, ``pdf``, ``jpg``, ...), ``png`` when it has none (written at ``path`` itself, not at
    ``path.png``).

    Raises
    ------
    ConfigError
        Another suffix (``.txt``), or anything but ``.png`` with ``png_only``.
    """
    from lipauth.errors import ConfigError

    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    if png_only:
        supported = {"png": "Portable Network Graphics"}
    else:
        from matplotlib.backend_bases import FigureCanvasBase

        supported = FigureCanvasBase.get_supported_filetypes()
    if suffix not in supported:
        raise ConfigError(f"{path}: cannot write a plot as .{suffix}; use "
                          + (".png" if png_only else f".png (or one of {', '.join('.' + k for k in sorted(supported))})"))
    return suffix


def plot_track(track: LipTrack, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG: mouth opening and width, head pose and quality flags over time.

    Parameters
    ----------
    track : LipTrack
    path : str or Path
        Output PNG file.
    title : str, optional
        Figure title (e.g. the clip name).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = track.timestamps_s
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True, height_ratios=(3, 2, 1.4))
    ax = axes[0]
    ax.plot(t, track.inner_opening(), color="tab:red", label="inner-lip opening")
    ax.set_ylabel("opening (face units)", color="tab:red")
    twin = ax.twinx()
    twin.plot(t, track.mouth_width(), color="tab:blue", lw=1, label="mouth width")
    twin.set_ylabel("width (face units)", color="tab:blue")
    ax.legend(handles=[*ax.get_lines(), *twin.get_lines()], loc="upper right", fontsize=8)
    _shade_gaps(ax, t, ~track.detected)
    ax = axes[1]
    for k, (name, colour) in enumerate(zip(("yaw", "pitch", "roll"), ("tab:green", "tab:orange", "tab:purple"))):
        ax.plot(t, track.pose[:, k], color=colour, label=name)
    ax.set_ylabel("head pose (deg)")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    for row, flag in enumerate(_FLAG_ROWS):
        on = track.has_flag(flag)
        ax.scatter(t[on], np.full(int(on.sum()), row), marker="|", s=60, color="black")
    ax.set_yticks(range(len(_FLAG_ROWS)), [f.name.lower().replace("_", " ") for f in _FLAG_ROWS], fontsize=7)
    ax.set_ylim(-0.5, len(_FLAG_ROWS) - 0.5)
    ax.set_xlabel("time (s)")
    rate = 100.0 * track.detection_rate
    fig.suptitle(title or f"lip track: {track.n_frames} frames, face in {rate:.1f}% ({track.backend})")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100, format=plot_format(path))
    plt.close(fig)
    return path


def _shade_gaps(ax, t: np.ndarray, gaps: np.ndarray) -> None:  # noqa: ANN001
    if not gaps.any() or t.size < 2:
        return
    dt = float(np.median(np.diff(t)))
    for i in np.flatnonzero(gaps):
        ax.axvspan(t[i] - dt / 2, t[i] + dt / 2, color="0.85", lw=0)


def overlay_frames(video: Video, track: LipTrack) -> Iterator[np.ndarray]:
    """Yield the video's frames with face box, labial box and lip landmarks drawn."""
    import cv2

    outer = list(LIP_GROUPS["outer"])
    inner = list(LIP_GROUPS["inner"])
    for i, (_, frame) in enumerate(video.iter_frames()):
        img = np.ascontiguousarray(frame).copy()
        if i < track.n_frames and track.detected[i]:
            for box, colour in ((track.face_box[i], (255, 255, 0)), (track.labial_box[i], (0, 255, 255))):
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                cv2.rectangle(img, (x0, y0), (x1, y1), colour, 1)
            pts = track.landmarks_px[i]
            for idx, colour in ((outer, (0, 255, 0)), (inner, (255, 0, 0))):
                poly = np.round(pts[idx]).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(img, [poly], True, colour, 1, lineType=cv2.LINE_AA)
        yield img


def draw_overlay(video: Video, track: LipTrack, path: str | Path) -> Path:
    """Write a copy of ``video`` with the tracking drawn on it (same timestamps)."""
    from lipauth.io import write_video

    return write_video(path, overlay_frames(video, track), timestamps_s=video.timestamps_s)


def plot_features(features: LipFeatures, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG: shape series, micro-movement signal and movement segments on one time axis.

    Parameters
    ----------
    features : LipFeatures
    path : str or Path
        Output PNG file.
    title : str, optional
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = features.timestamps_s
    n_rows = 3 if features.has_appearance else 2
    fig, axes = plt.subplots(n_rows, 1, figsize=(10, 2.4 * n_rows + 1), sharex=True, squeeze=False)
    axes = axes[:, 0]
    ax = axes[0]
    for name, colour in (("opening", "tab:red"), ("width", "tab:blue"), ("roundness", "tab:green")):
        if name in features.shape_names:
            ax.plot(t, features.column(name), color=colour, label=name)
    ax.set_ylabel("shape (face units)")
    ax.legend(loc="upper right", fontsize=8)
    _shade_gaps(ax, t, ~features.valid)
    ax = axes[1]
    ax.plot(t, features.motion_energy, color="black", lw=1, label="motion energy")
    ax.set_ylabel("motion energy\n(face units / s)")
    for start, end, label, _peak in features.segments:
        ax.axvspan(start, end, color="tab:orange" if label == "normal" else "tab:purple", alpha=0.25, lw=0)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color="tab:orange", alpha=0.25, label="normal movement"),
        plt.Rectangle((0, 0), 1, 1, color="tab:purple", alpha=0.25, label="micro movement"),
    ]
    ax.legend(handles=[*ax.get_lines(), *handles], loc="upper right", fontsize=8)
    if features.has_appearance:
        ax = axes[2]
        ax.plot(t, 1.0 - features.similarity, color="tab:purple", lw=1)
        ax.set_ylabel("1 - cosine sim.\n(labial region)")
        ax.set_title(f"micro-movement index {features.micro_movement_index:.2f}", fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title or f"lip features: {features.n_frames} frames, {len(features.segments)} movement segments")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100, format=plot_format(path))
    plt.close(fig)
    return path


def plot_sync(features: LipFeatures, audio: Audio, result: CheckResult, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG of a sync check: lip opening and audio loudness on one time axis
    (the audio drawn at the estimated offset), correlation per lag, agreement per window.

    Parameters
    ----------
    features : LipFeatures
    audio : Audio
    result : SyncResult
        From :func:`lipauth.checks.check_sync` (``offset_ms``, ``lags_ms``,
        ``correlations``, ``window_times_s``, ``window_agreement``).
    path : str or Path
        Output PNG file.
    title : str, optional
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offset_s = float(getattr(result, "offset_ms", float("nan"))) / 1000.0
    offset_s = offset_s if np.isfinite(offset_s) else 0.0
    t = features.timestamps_s
    hop = max(1, audio.sample_rate // 100)
    n = audio.n_samples // hop
    env = np.sqrt(np.mean(audio.samples[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    env_db = 20 * np.log10(np.maximum(env, 1e-5))
    t_audio = audio.start_s + (np.arange(n) + 0.5) * hop / audio.sample_rate
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), height_ratios=(3, 2, 2))
    ax = axes[0]
    ax.plot(t, features.column("opening"), color="tab:red", label="lip opening")
    ax.set_ylabel("opening (face units)", color="tab:red")
    ax.set_xlabel("video time (s)")
    twin = ax.twinx()
    twin.plot(t_audio - offset_s, env_db, color="tab:blue", lw=0.8,
              label=f"audio loudness, moved by {-offset_s * 1000:+.0f} ms")
    twin.set_ylabel("loudness (dBFS)", color="tab:blue")
    ax.set_xlim(t[0], t[-1])
    ax.legend(handles=[*ax.get_lines(), *twin.get_lines()], loc="upper right", fontsize=8)
    _shade_gaps(ax, t, ~features.valid)
    ax = axes[1]
    lags = np.asarray(getattr(result, "lags_ms", np.zeros(0)))
    corr = np.asarray(getattr(result, "correlations", np.zeros(0)))
    if lags.size:
        ax.plot(lags, corr, color="black")
        ax.axvline(offset_s * 1000, color="tab:green", ls="--", label=f"best offset {offset_s * 1000:+.0f} ms")
        agreement = float(result.details.get("agreement", float("nan")))
        if np.isfinite(agreement) and np.isfinite(result.score):
            # accepted when the agreement near zero lag reaches the best far lag's plus the threshold
            need = agreement - float(result.score) + float(result.threshold)
            ax.axhline(need, color="grey", ls=":", label=f"needed near 0 ms: {need:.2f} (far best {need - result.threshold:+.2f})")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("audio lag behind the lips (ms)")
    ax.set_ylabel("correlation")
    ax = axes[2]
    wt = np.asarray(getattr(result, "window_times_s", np.zeros(0)))
    wa = np.asarray(getattr(result, "window_agreement", np.zeros(0)))
    if wt.size:
        ax.plot(wt, wa, "o-", color="tab:purple")
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("video time (s)")
    ax.set_ylabel("agreement per window")
    verdict = "accepted" if result.accepted else "rejected " + ",".join(result.reasons)
    fig.suptitle(f"{title + ': ' if title else ''}sync score {result.score:.2f} ({verdict})")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100, format=plot_format(path))
    plt.close(fig)
    return path


def plot_timeline(
    result: CheckResult | None,
    path_or_buffer: str | Path | Any,
    *,
    sync: CheckResult | None = None,
    features: LipFeatures | None = None,
    title: str | None = None,
) -> None:
    """Write a PNG of a liveness answer on one time axis: prompts, audio, mouth, lip motion vs audio.

    Rows: the challenge's prompt windows (shaded) over the blow probability or voice
    activity per frame; the mouth state per frame (neutral / blow / open); and, when
    ``sync`` is given, the correlation of lip motion and audio per agreement window
    (else the lip opening from ``features`` when given).

    Parameters
    ----------
    result : ChallengeResult or None
        A ``BlowResult`` from :func:`lipauth.checks.blow.check_blow` or a ``SpeechResult`` from the timed-speech check
        (``timestamps_s``, ``audio_activity``, ``mouth_state``, ``windows``); None when no
        challenge was answered (then ``sync`` or ``features`` must be given).
    path_or_buffer : str, Path or binary file object
        Where the PNG goes (e.g. an ``io.BytesIO``).
    sync : SyncResult, optional
        From :func:`lipauth.checks.check_sync` (``window_times_s``, ``window_agreement``).
    features : LipFeatures, optional
        Lip features of the clip (the ``opening`` column is drawn when there is no sync).
    title : str, optional

    Raises
    ------
    ConfigError
        Nothing to draw (no result, no sync, no features).
    """
    from lipauth.errors import ConfigError

    if result is None and sync is None and features is None:
        raise ConfigError("plot_timeline() got nothing to draw; pass a challenge result, a sync result or features")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(getattr(result, "timestamps_s", np.zeros(0)), dtype=np.float64)
    windows = tuple(getattr(result, "windows", ()) or ())
    rows = []
    if t.size:
        rows += ["audio", "mouth"]
    has_sync = sync is not None and np.asarray(getattr(sync, "window_times_s", np.zeros(0))).size > 0
    if has_sync or features is not None:
        rows.append("lips")
    if not rows:  # a sync result without windows and nothing else: one empty row with the verdict
        rows.append("lips")
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.9 * len(rows) + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, row in zip(axes, rows, strict=True):
        for k, (a, b, prompt) in enumerate(windows):
            ax.axvspan(a, b, color="tab:orange", alpha=0.2, label=f"prompt: {prompt}" if k == 0 else None)
        if row == "audio":
            ax.plot(t, np.asarray(result.audio_activity, dtype=np.float64), color="tab:blue")
            ax.set_ylabel("blow prob." if result.check == "blow" else "voice")
            ax.set_ylim(-0.05, 1.05)
            if windows:
                ax.legend(loc="upper right", fontsize=8)
        elif row == "mouth":
            ax.step(t, np.asarray(result.mouth_state), where="post", color="tab:green")
            ax.set_yticks([0, 1, 2], ["neutral", "blow", "open"])
            ax.set_ylabel("mouth")
        else:
            if has_sync:
                wt = np.asarray(sync.window_times_s, dtype=np.float64)
                wa = np.asarray(sync.window_agreement, dtype=np.float64)
                ax.plot(wt, wa, "o-", color="tab:purple")
                ax.axhline(0.0, color="grey", lw=0.5)
                ax.set_ylabel("lips vs audio\n(correlation)")
            elif features is not None:
                ax.plot(features.timestamps_s, features.column("opening"), color="tab:red")
                ax.set_ylabel("lip opening")
    axes[-1].set_xlabel("time (s)")
    parts = []
    for r in (result, sync):
        if r is not None:
            verdict = "accepted" if r.accepted else "rejected " + " ".join(r.reasons)
            parts.append(f"{r.check}: {r.score:.2f} (thr {r.threshold:.2f}) {verdict}")
    fig.suptitle((title + ": " if title else "") + ("; ".join(parts) or "lip motion"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path_or_buffer, dpi=90, format="png")
    plt.close(fig)
