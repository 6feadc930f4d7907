"""Robustness checks of minigrad's public API against hostile or faulty input.

``python -m tests.robustness.census`` prints the census of cases; ``test_census.py`` turns it
into tests, with the open gaps listed in its ``KNOWN_GAPS``.
"""
