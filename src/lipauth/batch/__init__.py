"""Batch engine: one function over many clips, on a local process pool or a Ray cluster.

``run_batch(items, fn, engine="local"|"ray", workers=, address=, out=, resume=, settings=)``
streams one JSON line per item to ``out``, skips finished items on restart, refuses a
resume with other settings, records failing items, and sorts the file at the end.
"""

from __future__ import annotations

from lipauth.batch.engine import BatchSummary, read_results, run_batch, settings_hash

__all__ = ["BatchSummary", "read_results", "run_batch", "settings_hash"]
