"""The README's Python examples run as written (so the documentation cannot drift)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
# what an example needs beyond numpy: the optional package behind each part it imports
NEEDS = {"minigrad.viz": "matplotlib", "minigrad.distributed": "mpi4py",
         "minigrad.utils.tensorboard": "tensorboardX"}


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    for part, package in NEEDS.items():
        if part in BLOCKS[index]:
            pytest.importorskip(package, reason=f"the example uses {part}, which needs "
                                                f"{package} (an optional extra)")
    monkeypatch.chdir(tmp_path)  # examples may write files (a checkpoint)
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "readme"})
