"""Starting ``mpiexec`` from a test: ``run(n, script, *args)``, and skipping cleanly where
mpi4py or an ``mpiexec`` is missing."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mpiexec() -> str | None:
    """The ``mpiexec`` next to this Python (the MPICH wheel puts it there), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.exists(beside):
        return beside
    return shutil.which("mpiexec")


def mpi4py_missing() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'minigrad[dist]')"
    if mpiexec() is None:
        return "no mpiexec found (pip install mpich)"
    return None


needs_mpi = pytest.mark.skipif(mpi4py_missing() is not None,
                               reason=mpi4py_missing() or "")


def run(n: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``mpiexec -n n python -m mpi4py *args`` from the repository root; fails the test with
    the ranks' output when it does not exit 0."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}\n--- stdout\n"
                    f"{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return done
