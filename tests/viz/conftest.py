"""minigrad.viz draws with matplotlib: these tests skip cleanly where it is not installed."""
import pytest

pytest.importorskip("matplotlib")
