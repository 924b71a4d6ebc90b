"""``lipauth commands``: enrol a personal vocabulary, recognise a clip, listen to a long clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lipauth.cli._app import PlotPath, _echo_json, cli


def _store(store_dir: str | None) -> Any:
    from lipauth.checks.commands import FileVocabularyStore

    return FileVocabularyStore(store_dir)


def _line(result: Any) -> str:
    if "NO_UTTERANCE" in result.reasons:
        return "no utterance (the lips do not move)"
    top = ", ".join(f"{w} {c:.2f}" for w, c, _ in result.ranking[:3])
    answer = result.word if result.word is not None else f"none ({', '.join(result.reasons).lower()})"
    return f"{answer}  [ranking: {top}]"


def _plot(results: list[Any], features: Any, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 6), height_ratios=(2, 1.5))
    ax = axes[0]
    if features is not None:
        ax.plot(features.timestamps_s, features.motion_energy, color="tab:red", lw=1, label="motion energy")
    for r in results:
        if r.start_s == r.start_s:  # not NaN
            ax.axvspan(r.start_s, r.end_s, color="tab:green" if r.word else "0.7", alpha=0.25)
            ax.text(r.start_s, ax.get_ylim()[1] * 0.9, r.word or "none", fontsize=9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("face units / s")
    ax.set_title(title)
    ax = axes[1]
    if results and results[0].ranking:
        words = [w for w, _, _ in results[0].ranking]
        ax.barh(words[::-1], [c for _, c, _ in results[0].ranking][::-1], color="tab:blue")
        ax.set_xlabel("confidence (first utterance)")
    fig.tight_layout()
    from lipauth.viz import plot_format

    fig.savefig(path, dpi=100, format=plot_format(path))
    plt.close(fig)


@cli.group()
def commands() -> None:
    """Personal lip commands: a person's own words recognised from lip movement."""


@commands.command("enrol")
@click.argument("vocab")
@click.argument("takes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--word", required=True, help="The word or phrase these takes say (replaces it if enrolled).")
@click.option("--store", "store_dir", type=click.Path(file_okay=False), help="Vocabulary directory (default DATA_DIR/vocabularies).")
@click.option("--json", "as_json", is_flag=True, help="Print the vocabulary's words as JSON.")
@click.option("--copies/--no-copies", default=True, show_default=True,
              help="Also enrol each take with its lip motion halved (amplitude_copies): slight speech is then "
                   "recognised against slight takes (about 2x the enrolment time).")
def enrol(vocab: str, takes: tuple[str, ...], word: str, store_dir: str | None, as_json: bool, copies: bool) -> None:
    """Add WORD to vocabulary VOCAB from 3 or more TAKES (video files of the word; 3-10 advised)."""
    from lipauth.checks.commands import (
        AMPLITUDE_COPIES,
        MIN_TAKES,
        UnknownVocabularyError,
        Vocabulary,
        check_word,
        clip_sequence,
    )
    from lipauth.errors import InsufficientDataError

    word = check_word(word)  # an empty or multi-line --word is refused before seconds of tracking
    if len(takes) < MIN_TAKES:
        raise InsufficientDataError(f"word {word!r} has {len(takes)} take(s); enrol at least {MIN_TAKES} takes of each word")
    from lipauth.io._open import check_source

    for path in takes:  # a missing or empty take is named before seconds of tracking the others
        check_source(path)
    store = _store(store_dir)
    store.check_writable()  # a data dir or --store that cannot be written, before the takes are tracked
    try:
        vocabulary = store.load(vocab)
    except UnknownVocabularyError:
        vocabulary = Vocabulary(vocab)
    seqs, motions = [], []
    made: dict[float, list[Any]] = {f: [] for f in (AMPLITUDE_COPIES if copies else ())}
    for path in takes:
        out = clip_sequence(path, sequence_config=vocabulary.sequence_config, return_motion=True, copies=tuple(made))
        seq, motion = out[0], out[3]
        copied = out[4] if made else {}  # clip_sequence adds the copies only when asked for some (not --no-copies)
        if seq is None:
            raise InsufficientDataError(f"{path}: the lips do not move in this take; record the word again")
        seqs.append(seq)
        motions.append(motion)
        for f in made:
            if f in copied:
                made[f].append(copied[f])
    # a factor is kept when every take gave a copy (the copies are matched as a vocabulary of their own)
    kept = {f: c for f, c in made.items() if len(c) == len(seqs)}
    vocabulary.add_word(word, seqs, sources=[Path(p).name for p in takes], motions=motions, copies=kept)
    store.save(vocabulary)
    if as_json:
        _echo_json({"vocabulary": vocab, "words": {w: len(vocabulary.takes[w]) for w in vocabulary.words}})
    else:
        click.echo(f"{vocab}: enrolled {word!r} from {len(takes)} takes; words: {', '.join(vocabulary.words)}")


@commands.command("recognise")
@click.argument("vocab")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--store", "store_dir", type=click.Path(file_okay=False), help="Vocabulary directory (default DATA_DIR/vocabularies).")
@click.option("--plot", type=PlotPath(), help="Write a PNG of the motion and the ranking.")
@click.option("--json", "as_json", is_flag=True, help="Print the CommandResult as JSON.")
def recognise_command(vocab: str, video: str, store_dir: str | None, plot: str | None, as_json: bool) -> None:
    """Which word of VOCAB does VIDEO (one utterance) say?"""
    from lipauth.checks.commands import clip_sequence, recognise

    vocabulary = _store(store_dir).load(vocab)
    seq, track, features, motion = clip_sequence(video, vocabulary=vocabulary, return_motion=True)
    t = track.timestamps_s
    result = recognise(vocabulary, seq, start_s=float(t[0]), end_s=float(t[-1]), motion=motion)
    if plot:
        _plot([result], features, plot, f"{Path(video).name}: {result.word or 'none'}")
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(f"{Path(video).name}: {_line(result)}")


@commands.command("listen")
@click.argument("vocab")
@click.argument("video_arg", metavar="[VIDEO]", required=False, type=click.Path(dir_okay=False))
@click.option("--video", type=click.Path(dir_okay=False), help="A clip with several utterances (or give it as VIDEO).")
@click.option("--store", "store_dir", type=click.Path(file_okay=False), help="Vocabulary directory (default DATA_DIR/vocabularies).")
@click.option("--plot", type=PlotPath(), help="Write a PNG of the motion with the utterances found.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON CommandResult per line.")
def listen(vocab: str, video_arg: str | None, video: str | None, store_dir: str | None, plot: str | None,
           as_json: bool) -> None:
    """Find the utterances in VIDEO and say which word of VOCAB each one is."""
    from lipauth.checks.commands import listen_clip

    if (video_arg is None) == (video is None):
        raise click.UsageError("give the clip once: lipauth commands listen VOCAB VIDEO (or --video VIDEO)")
    video = video_arg or video
    assert video is not None

    vocabulary = _store(store_dir).load(vocab)
    results, features = listen_clip(vocabulary, video, return_features=True)
    if plot:
        _plot(results, features, plot, f"{Path(video).name}: {len(results)} utterance(s)")
    if as_json:
        for r in results:
            _echo_json(r.to_dict())
    elif not results:
        click.echo(f"{Path(video).name}: no utterance found")
    else:
        for r in results:
            click.echo(f"{r.start_s:7.2f}-{r.end_s:.2f} s  {_line(r)}")
