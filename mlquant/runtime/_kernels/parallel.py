"""Running a batch's chunks on several threads, with numpy's BLAS single-threaded meanwhile.

Most of the runtime's time goes to matrix products on one image at a time, which BLAS
parallelises poorly, and to element-wise numpy work, which it does not parallelise at all. Both
release the GIL, so running different images on different Python threads, each product on a
single BLAS thread, keeps every core busy. BLAS threading is a process-wide setting: it is
limited while at least one executor's run is inside :func:`map_chunks` and restored when the
last one leaves (the counter below is that bookkeeping, not a cache of results).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Most threads :func:`map_chunks` uses, however many cores there are.
MAX_WORKERS = 8

_lock = threading.Lock()
_inside = 0
_restore: Any = None
_controller: Any = None


def workers() -> int:
    """How many threads to run chunks on: the cores this process may use, at most ``MAX_WORKERS``."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, count))


def _blas_controller() -> Any:
    """threadpoolctl's view of the BLAS libraries loaded now (found once: the search takes ~0.2 ms)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Limit numpy's BLAS to one thread until the last concurrent caller leaves."""
    global _inside, _restore
    with _lock:
        if _inside == 0:
            try:
                _restore = _blas_controller().limit(limits=1)
            except ImportError:  # without threadpoolctl, results still match but BLAS threads compete
                _restore = None
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _restore is not None:
                _restore.restore_original_limits()
                _restore = None


def map_chunks(function: Callable[[T], R], chunks: Sequence[T], *, threads: bool = True) -> list[R]:
    """``[function(chunk) for chunk in chunks]``, on several threads when there are several chunks.

    The results come back in order. BLAS is single-threaded even for one chunk, so a chunk's
    result never depends on how many others run beside it: an item's output is the same, bit
    for bit, whatever batch it comes in. ``threads=False`` runs the chunks one after another, in
    order (for callbacks whose order must not depend on timing).
    """
    count = min(workers(), len(chunks)) if threads else 1
    with _single_threaded_blas():
        if count < 2:
            return [function(chunk) for chunk in chunks]
        with ThreadPoolExecutor(count, thread_name_prefix="mlquant-runtime") as pool:
            return list(pool.map(function, chunks))
