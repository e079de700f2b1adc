"""The cached evaluators a sweep and the mixed-precision search run: one setup, several parts of the data.

Both split their images (calibration and judged parts, search and validation parts) and judge
each part with the same backend, preprocessing, batch size, cache and progress callback.
"""

from __future__ import annotations

from .._progress import Progress
from ..evaluate import Backend, CachingEvaluator, EvaluationCache, Evaluator, ImageFolder, Preprocessing

__all__ = ["caching_evaluator", "on_other_images"]


def caching_evaluator(
    data: ImageFolder,
    *,
    backend: Backend | None,
    preprocessing: Preprocessing,
    batch_size: int,
    store: EvaluationCache,
    report: Progress | None,
) -> CachingEvaluator:
    """An :class:`~mlquant.Evaluator` of ``data`` with this setup, its results kept in ``store``."""
    evaluator = Evaluator(data, backend=backend, preprocessing=preprocessing, batch_size=batch_size)
    return CachingEvaluator(evaluator, store, report)


def on_other_images(runner: CachingEvaluator, data: ImageFolder) -> CachingEvaluator:
    """``runner``'s backend, preprocessing, batch size, cache and progress, judging ``data`` instead."""
    setup = runner.evaluator
    return caching_evaluator(data, backend=setup.backend, preprocessing=setup.preprocessing,
                             batch_size=setup.batch_size, store=runner.store, report=runner.report)
