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
    # creation
    "creation/tensor-empty-list": "silent: mg.tensor([]) is float64, PyTorch's is float32",
    "creation/tensor-1e300-float32": "unclear: NumPy's 'overflow in cast' warning leaks",
    "creation/tensor-strings": "unclear: message says 'dtype <U1', not that strings are no numbers",
    "creation/tensor-list-with-none": "silent: [1.0, None] becomes [1., nan]",
    "creation/tensor-int-overflow": "unclear: 2**70 gives 'dtype object from int', not overflow",
    "creation/tensor-dtype-class": "unclear: dtype=list is taken as NumPy's object dtype",
    "creation/zeros-negative": "unclear: NumPy's bare 'negative dimensions are not allowed'",
    "creation/zeros-negative-2d": "unclear: NumPy's bare 'negative dimensions are not allowed'",
    "creation/zeros-float-size": "unclear: Python's 'float object cannot be interpreted as an "
                                 "integer', no argument named",
    "creation/zeros-str-size": "unclear: Python's 'str object cannot be interpreted as an "
                               "integer', no argument named",
    "creation/empty-negative": "unclear: NumPy's bare 'negative dimensions are not allowed'",
    "creation/full-negative": "unclear: raised inside numpy (negative dimensions)",
    "creation/full-str-value": "unclear: raised inside numpy (could not convert string to float)",
    "creation/eye-negative": "unclear: raised inside numpy (negative dimensions), n not named",
    "creation/eye-negative-m": "unclear: raised inside numpy (negative dimensions), m not named",
    "creation/eye-float": "unclear: raised inside numpy ('float' cannot be interpreted as int)",
    "creation/arange-zero-step": "unclear: ZeroDivisionError from inside minigrad",
    "creation/arange-wrong-sign": "silent: arange(0, -10, 1) is empty; PyTorch refuses the sign",
    "creation/arange-nan": "unclear: 'cannot compute length' does not name the NaN bound",
    "creation/arange-inf": "unclear: NumPy's bare 'Maximum allowed size exceeded'",
    "creation/randn-negative": "unclear: raised inside numpy.random (negative dimensions)",
    "creation/randn-float16": "refused: raised inside numpy.random (Unsupported dtype float16)",
    "creation/rand-float16": "refused: raised inside numpy.random (Unsupported dtype float16)",
    "creation/rand-int-dtype": "unclear: raised inside numpy.random (Unsupported dtype)",
    "creation/randn-int-dtype": "unclear: raised inside numpy.random (Unsupported dtype)",
    "creation/randint-empty-range": "unclear: raised inside numpy.random ('low >= high')",
    "creation/randint-negative-size": "unclear: raised inside numpy.random (negative dimensions)",
    "creation/randperm-negative": "unclear: the message calls randperm's n 'steps'",
    "creation/zeros-like-list": "unclear: AttributeError ('list' has no 'shape') inside minigrad",
    "creation/ones-like-none": "unclear: AttributeError (None has no 'shape') inside minigrad",
    "creation/randn-like-int": "unclear: raised inside numpy.random (Unsupported dtype)",
    "creation/Tensor-negative-shape": "unclear: NumPy's bare 'negative dimensions are not allowed'",
    # tensor
    "tensor/size-dim-out-of-range": "unclear: bare 'tuple index out of range', dim not named",
    "tensor/size-dim-str": "unclear: bare 'tuple indices must be integers', dim not named",
    "tensor/type-bad": "unclear: t.type('bogus') complains about an unknown device",
    "tensor/new-zeros-negative": "unclear: raised inside numpy (negative dimensions)",
    "tensor/new-full-str": "unclear: raised inside numpy (could not convert string to float)",
    "tensor/format-vector-spec": "unclear: Python's 'Unknown format code' for the repr string",
    # binary
    "binary/int-floordiv-zero": "silent: int // 0 gives 0; PyTorch raises ZeroDivisionError",
    "binary/int-remainder-zero": "silent: int % 0 gives 0; PyTorch raises ZeroDivisionError",
    "binary/float-div-zero": "unclear: NumPy's 'divide by zero' warning leaks",
    "binary/bool-minus-bool": "unclear: NumPy's own 'numpy boolean subtract' message",
    "binary/int-negative-power": "unclear: int ** -1 reports a broadcast ShapeError",
    "binary/overflow-float64": "unclear: NumPy's 'overflow encountered in multiply' warning leaks",
    "binary/maximum-nan": "silent: mg.maximum(nan, 1) is 1; PyTorch propagates NaN",
    "binary/maximum-int8-extremes": "silent: maximum picks by the sign of a - b, which overflows "
                                    "(gives -100)",
    "binary/minimum-int64-large": "silent: minimum picks by the sign of a - b, which overflows",
    "binary/maximum-bools": "refused: maximum of bools raises NumPy's 'boolean subtract' error",
    "binary/where-float-condition": "silent: a float condition is accepted; PyTorch needs bool",
    "binary/masked-fill-mask-shape": "unclear: reported as a 'where' broadcast, mask not named",
    "binary/clamp-str-bound": "unclear: a NumPy _UFuncNoLoopError escapes",
    "binary/clamp-int-float-bound": "silent: clamp(int, max=2.5) is float64, PyTorch's float32",
    # unary
    "unary/sqrt-int-float32": "silent: sqrt of an int tensor is float64, PyTorch's float32",
    "unary/exp-int-float32": "silent: exp of an int tensor is float64, PyTorch's float32",
    "unary/sigmoid-int-float32": "silent: sigmoid of an int tensor is float64, PyTorch's float32",
    "unary/exp-int8-float32": "silent: exp of an int8 tensor is float16 (NumPy's rule)",
    "unary/neg-bool": "unclear: NumPy's own 'numpy boolean negative' message",
    "unary/log-negative-nan": "unclear: NumPy's 'divide by zero' / 'invalid value' warnings leak",
    "unary/sqrt-negative-nan": "unclear: NumPy's 'invalid value encountered in sqrt' leaks",
    "unary/exp-overflow": "unclear: NumPy's 'overflow encountered in exp' warning leaks",
    "unary/log1p-minus-one": "unclear: NumPy's 'divide by zero in log1p' warning leaks",
    "unary/reciprocal-zero": "unclear: NumPy's 'divide by zero' warning leaks",
    "unary/rsqrt-zero": "unclear: NumPy's 'divide by zero' warning leaks",
    "unary/asin-out-of-domain": "unclear: NumPy's 'invalid value in arcsin' warning leaks",
    "unary/exp-list": "unclear: AttributeError ('list' has no 'device') inside minigrad",
    "unary/sin-ndarray": "unclear: AttributeError ('ndarray' has no 'array') inside minigrad",
    "unary/round-decimals-float": "unclear: raised inside numpy (float decimals)",
    "unary/floor-str": "unclear: AttributeError ('str' has no 'device') inside minigrad",
    # matmul
    "matmul/vectors-mismatch": "unclear: reports shapes (1, 3), (4, 1), not the given (3,), (4,)",
    # reduce
    "reduce/sum-dim-repeated": "silent: sum(dim=(0, 0)) sums once; PyTorch refuses",
    "reduce/sum-dim-float": "unclear: bare 'float object is not iterable', dim not named",
    "reduce/sum-dim-str": "unclear: bare \"'<=' not supported\", dim not named",
    "reduce/mean-empty": "silent: mean of an empty tensor is 0.0 float64; PyTorch: nan float32",
    "reduce/mean-empty-dim": "silent: zeros(0, 3).mean(0) is zeros; PyTorch: nan",
    "reduce/sum-empty": "silent: sum of mg.tensor([]) is float64 (the tensor itself is)",
    "reduce/prod-empty": "silent: prod of mg.tensor([]) is float64 (the tensor itself is)",
    "reduce/sum-keepdim-0d": "refused: dim=0 on a 0-d tensor raises NumPy's AxisError",
    "reduce/argmax-empty": "unclear: NumPy's bare 'attempt to get argmax of an empty sequence'",
    "reduce/var-one-element": "silent: nan without PyTorch's degrees-of-freedom warning",
    "reduce/std-one-element": "silent: nan without PyTorch's degrees-of-freedom warning",
    "reduce/softmax-empty": "refused: softmax over an empty dim raises inside numpy",
    "reduce/softmax-all-neg-inf": "unclear: NumPy's 'invalid value in subtract' warning leaks",
    "reduce/argmax-dim-out-of-range": "unclear: NumPy's AxisError escapes",
    "reduce/amax-dim-repeated": "silent: amax(dim=(1, 1)) reduces once; PyTorch refuses",
    # shape
    "shape/reshape-two-minus-one": "unclear: does not say only one size can be -1",
    "shape/reshape-negative": "silent: reshape(-2, 3) is taken as reshape(-1, 3)",
    "shape/reshape-float": "unclear: Python's 'float object cannot be interpreted as an "
                           "integer', no shape named",
    "shape/view-wrong-numel": "unclear: a numel mismatch is reported as a stride/copy problem",
    "shape/flatten-start-after-end": "silent: flatten(2, 1) gives a wrong shape, no error",
    "shape/cat-list-element": "unclear: AttributeError ('list' has no 'device') inside minigrad",
    "shape/cat-tensor-not-sequence": "silent: mg.cat(tensor) concatenates its rows",
    # index
    "index/getitem-float": "unclear: 'index out of range' + NumPy's message for t[1.5]",
    "index/getitem-str": "unclear: 'index out of range' + NumPy's message for t['a']",
    "index/getitem-mask-shape": "unclear: NumPy's boolean-index message; the mask is not named",
    "index/getitem-float-tensor": "unclear: 'index out of range' + NumPy's text; float not named",
    "index/setitem-shape-mismatch": "unclear: names the whole tensor's shape, not the indexed (2,)",
    "index/setitem-nan-into-int": "silent: int_tensor[0] = nan writes garbage",
    # inplace
    "inplace/fill-str": "unclear: raised inside numpy (could not convert string to float)",
    "inplace/uniform-bounds": "unclear: raised inside numpy.random ('high - low < 0')",
    "inplace/normal-negative-std": "unclear: raised inside numpy.random ('scale < 0')",
    # autograd
    "autograd/backward-inputs-empty": "silent: backward(inputs=[]) does nothing; PyTorch refuses",
    "autograd/grad-inputs-not-tensors": "unclear: AttributeError ('float' has no 'requires_grad')",
    "autograd/jacobian-list": "unclear: AttributeError ('list' has no 'array') inside minigrad",
    "autograd/sqrt-zero-grad": "unclear: NumPy's 'divide by zero' warning leaks in backward",
    # nn
    "nn/layernorm-negative": "unclear: raised inside numpy (negative dimensions)",
    "nn/dropout-p-str": "unclear: bare \"'<=' not supported\", p not named",
    "nn/leaky-relu-slope-str": "unclear: a NumPy DTypePromotionError escapes",
    "nn/relu-list": "unclear: AttributeError ('list' has no 'array') inside minigrad",
    "nn/functional-batch-norm-running": "unclear: 'got one of shape (2,)' does not say which",
    # loss
    "loss/ce-empty-batch": "unclear: NumPy's 'invalid value in scalar divide' warning leaks",
    "loss/ce-all-ignored": "unclear: NumPy's 'invalid value in scalar divide' warning leaks",
    "loss/mse-empty": "unclear: NumPy's 'invalid value in divide' warning leaks",
    # optim
    "optim/step-lr-set-to-str": "unclear: a NumPy _UFuncNoLoopError escapes from step()",
    # data
    "data/collate-empty": "unclear: bare 'list index out of range'",
    "data/scaler-nan": "silent: StandardScaler.fit accepts NaN (mean_ becomes NaN)",
    # io
    "io/load-path-int": "unclear: AttributeError ('int' has no 'tell') inside minigrad",
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
