"""Hypothesis strategies and settings shared by the runtime's geometry property tests.

Each property runs once per engine (``tests/conftest.py``), so the settings allow a test to run
under two executors.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Seeds for the random values of one example.
SEEDS = st.integers(0, 2**16)
#: Padding amounts (top, bottom, left, right), 0 to 2 each.
PADS = st.tuples(*[st.integers(0, 2)] * 4)


def pairs(low: int, high: int) -> st.SearchStrategy[tuple[int, int]]:
    """Heights and widths (of an input, a kernel, a stride...) from ``low`` to ``high``."""
    return st.tuples(st.integers(low, high), st.integers(low, high))


def geometry(max_examples: int) -> settings:
    """Settings of a geometry property: ``max_examples``, no deadline, run under each engine."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
