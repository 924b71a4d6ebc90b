"""``lipauth eval``: measure the checks on a dataset file (report, scores, thresholds)."""

from __future__ import annotations

from pathlib import Path

import click

from lipauth.cli._app import _echo_json, cli


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@cli.command("eval")
@click.argument("dataset", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the report, scores and thresholds.")
@click.option("--root", type=click.Path(file_okay=False), help="Folder the CSV paths are relative to (default: the CSV's folder).")
@click.option("--generate", default="", help="Attacks to generate from bona fide clips: shift,swap,still,replay.")
@click.option("--checks", default="sync,password", show_default=True, help="Checks to run: sync,password.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool over the cores; ray: tasks on a Ray cluster (pip install 'lipauth[ray]').")
@click.option("--address", help="Ray cluster address (e.g. auto, ray://host:10001); with --engine ray.")
@click.option("--workers", type=click.IntRange(1, 1024), help="Parallel workers (default: the cores).")
@click.option("--tune-fraction", default=0.5, show_default=True, type=float, help="Share of the clips (without a split value) used to choose thresholds.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random tune/test split.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="Per-clip score file format (csv is always written; parquet needs pyarrow).")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(10, 100000), help="Bootstrap resamples for the CIs.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Skip clips finished by an interrupted run.")
@click.option("--allow-missing", is_flag=True,
              help="Evaluate the present clips when the CSV lists missing ones (default: refuse, naming them).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(dataset: str, out_dir: str, root: str | None, generate: str, checks: str, engine: str, address: str | None,
             workers: int | None, tune_fraction: float, seed: int, fmt: str, bootstrap: int, resume: bool, allow_missing: bool,
             as_json: bool) -> None:
    """Run the checks on every clip of DATASET (CSV: path,label,user,phrase,challenge[,split]) and write a report.

    Thresholds are chosen on the tuning split; the metrics (APCER per attack type, BPCER,
    EER, FAR/FRR with bootstrap CIs) are reported on the test split. The optional split
    column pins a clip to tune or test (e.g. clips a model was trained on: tune); the
    other clips are split at random with --seed and --tune-fraction. Clips listed but not
    found are refused (exit 2, naming them) unless --allow-missing is given.
    """
    from lipauth.eval.report import metric_tables
    from lipauth.eval.runner import EvalConfig, run_evaluation

    cfg = EvalConfig(checks=_names(checks), generate=_names(generate), tune_fraction=tune_fraction, seed=seed,
                     n_bootstrap=bootstrap)
    formats = ("csv",) if fmt == "csv" else ("csv", "parquet")
    result = run_evaluation(dataset, out_dir, root=root, config=cfg, engine=engine, workers=workers, address=address,
                            resume=resume, formats=formats, progress=not as_json, allow_missing=allow_missing)
    if result.dataset.missing:  # --allow-missing: said on stderr too, whatever the output format
        click.echo(f"lipauth: warning: {len(result.dataset.missing)} clip(s) of {Path(dataset).name} not found and not "
                   f"evaluated (listed in {result.files['report_md']})", err=True)
    if as_json:
        _echo_json({"metrics": result.metrics, "thresholds": result.thresholds, "n_clips": len(result.dataset.rows),
                    "missing": [r.path for r in result.dataset.missing], "n_failures": len(result.failures),
                    "files": {k: str(v) for k, v in result.files.items()}})
        return
    ds = result.dataset
    click.echo(f"{Path(dataset).name}: {len(ds.rows)} clips ({len(ds.missing)} missing), {len(result.failures)} failures")
    for title, _head, rows in metric_tables(result):
        click.echo(title)
        for r in rows:
            click.echo(f"  {r[0]:<32} {r[1]:>5}  {r[2]}" if len(r) == 3 else "  " + " ".join(r))
    click.echo(f"report: {result.files['report_md']} and {result.files['report_html']}")
