"""The robustness census as tests: every case must be ok, except the open gaps listed here.

``KNOWN_GAPS`` names each case that is not ok yet, with a one-line reason: the list of gaps is
visible and shrinks over time. A listed case that starts to pass fails its test, asking for
its line to be removed; a case that fails and is not listed fails with what happened. Run
``python -m tests.robustness.census`` for the whole table.
"""
from __future__ import annotations

import time

import pytest

from tests.robustness import census

# name -> "status: why it is not ok yet". Remove a line once its case passes; when a case's
# status changes (a silent case now raises, but unclearly), update its line.
KNOWN_GAPS: dict[str, str] = {
    # none today: every case is ok or warns
}

_CACHE: dict[str, census.Outcome] = {}
_SECONDS: list[float] = []


def outcomes() -> dict[str, census.Outcome]:
    """The census, run once per test session."""
    if not _CACHE:
        start = time.perf_counter()
        _CACHE.update((o.case.name, o) for o in census.run())
        _SECONDS.append(time.perf_counter() - start)
    return _CACHE


def test_census_has_enough_cases() -> None:
    assert len(census.CASES) >= 250
    areas = {c.area for c in census.CASES}
    for area in ("creation", "tensor", "binary", "unary", "matmul", "reduce", "shape", "index",
                 "inplace", "autograd", "nn", "loss", "optim", "sched", "data", "io",
                 "state_dict", "device"):
        assert area in areas, f"the census has no cases for {area}"


def test_census_is_fast() -> None:
    outcomes()
    assert _SECONDS[0] < 10.0, f"the census took {_SECONDS[0]:.1f} s; keep it under 10 s"


def test_known_gaps_name_census_cases() -> None:
    names = {c.name for c in census.CASES}
    stale = sorted(set(KNOWN_GAPS) - names)
    assert not stale, f"KNOWN_GAPS names cases the census no longer has: {stale}"
    badly_written = sorted(n for n, why in KNOWN_GAPS.items()
                           if why.split(":", 1)[0] not in census.STATUSES[1:4] or ":" not in why)
    assert not badly_written, f"KNOWN_GAPS reasons must start with 'status:': {badly_written}"


def test_census_report_runs() -> None:
    text = census.report(list(outcomes().values()))
    assert "TOTAL" in text


@pytest.mark.parametrize("name", [c.name for c in census.CASES])
def test_case(name: str) -> None:
    outcome = outcomes()[name]
    case = outcome.case
    if outcome.status == "skipped":
        pytest.skip(outcome.detail)
    if name in KNOWN_GAPS:
        if outcome.ok:
            pytest.fail(f"{name} now passes ({outcome.detail}): the gap is fixed, remove it from "
                        "KNOWN_GAPS in tests/robustness/test_census.py")
        listed = KNOWN_GAPS[name].split(":", 1)[0]
        if listed != outcome.status:
            pytest.fail(f"{name} is now {outcome.status} ({outcome.detail}), KNOWN_GAPS says "
                        f"{listed}: update its line in tests/robustness/test_census.py")
        pytest.xfail(f"known gap: {KNOWN_GAPS[name]} [{outcome.detail}]")
    assert outcome.ok, (f"{name} ({case.description}) is {outcome.status}: {outcome.detail}. "
                        "Fix it, or if it is a new open gap, list it in KNOWN_GAPS with a reason")
