"""Timing shared by the runtime benchmarks: each engine's best call, calls alternating."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_rates(engines: dict[str, Callable[[], object]], batch: int, seconds: float) -> dict[str, float]:
    """Images per second of each engine: its best call, calls alternating until ``seconds`` pass."""
    best = dict.fromkeys(engines, float("inf"))
    for run in engines.values():
        run()  # warm up
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, run in engines.items():
            time.sleep(0.05)  # let the other engine's worker threads stop spinning
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: batch / t for name, t in best.items()}
