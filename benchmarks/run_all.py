"""Run every ``benchmarks/bench_*.py`` and print one table (``make bench``).

Each benchmark prints what it prints (passed through here) and, as its last stdout
line, ``BENCH {"stage", "time_s", "baseline_s", "ratio", "rss_mb"}``: the time of the
measured stage, of its baseline measured in the same run, their ratio and the peak memory.

    .venv/bin/python benchmarks/run_all.py [NAME_SUBSTRING ...]

Exit code 1 if a benchmark fails or prints no BENCH line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_one(path: Path) -> tuple[dict | None, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=HERE.parent, check=False)
    wall = time.perf_counter() - t0
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr[-3000:])
        return None, f"exit {proc.returncode} after {wall:.0f} s"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines or not lines[-1].startswith("BENCH "):
        return None, "no BENCH line"
    try:
        data = json.loads(lines[-1][len("BENCH "):])
    except json.JSONDecodeError as exc:
        return None, f"bad BENCH line ({exc})"
    return data, f"{wall:.0f} s"


def main(argv: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    benches = sorted(HERE.glob("bench_*.py"))
    if argv:
        benches = [b for b in benches if any(a in b.name for a in argv)]
    rows = []
    for bench in benches:
        print(f"\n=== {bench.name}", flush=True)
        data, status = run_one(bench)
        rows.append((bench.name, data, status))
    table = Table(title="lipauth benchmarks (ratio = stage time / its baseline in the same run)")
    for col, just in (("benchmark", "left"), ("stage", "left"), ("time s", "right"), ("baseline s", "right"),
                      ("ratio", "right"), ("peak RSS MB", "right"), ("run", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    failed = 0
    for name, data, status in rows:
        if data is None:
            failed += 1
            table.add_row(name, "[red]FAILED[/red]", "", "", "", "", status)
            continue
        table.add_row(name, str(data.get("stage", "?")), f"{data.get('time_s', float('nan')):.3f}",
                      f"{data.get('baseline_s', float('nan')):.3f}", f"{data.get('ratio', float('nan')):.3f}",
                      f"{data.get('rss_mb', float('nan')):.0f}", status)
    print()
    console = Console()
    if not console.is_terminal:  # piped (make bench | tee): do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
