"""What a demanding new user hit with real clips in QA session 9 (reproduced here on synthetic
inputs where possible; tests that need ../shared/data skip when it is absent)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lipauth.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


# --------------------------------------------------------------------------------------
# liveness --json of a blow challenge nobody answered: a NaN in a list in the details


def test_result_to_dict_turns_nan_inside_lists_into_null() -> None:
    """``lipauth liveness --json`` (and the service's answer) of a real talking clip against a
    blow challenge crashed with "Out of range float values are not JSON compliant": the blow
    check's ``mouth_timing`` holds NaN delays in lists (an unanswered window), and
    ``to_dict`` only cleaned NaN in tuples and arrays."""
    from lipauth.checks.blow import BlowResult, schedule_timing

    t = np.arange(0, 5, 0.04)
    timing = schedule_timing(t, np.zeros_like(t, dtype=bool), [(1.0, 2.0), (3.0, 4.0)])
    assert math.isnan(timing.onset_delay_s[0])
    result = BlowResult(score=0.0, threshold=0.5, accepted=False, reasons=("NO_BLOW_HEARD",),
                        details={"mouth_timing": timing.to_dict(), "nested": [[float("nan"), 1.0], {"x": [float("inf")]}]})
    text = json.dumps(result.to_dict(), allow_nan=False)  # the CLI's and Starlette's encoders both refuse NaN
    details = json.loads(text)["details"]
    assert details["mouth_timing"]["onset_delay_s"] == [None, None]
    assert details["nested"] == [[None, 1.0], {"x": [None]}]
