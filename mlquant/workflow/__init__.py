"""The whole job, driven end to end: the sweep, mixed-precision search, reports and the demo.

* :mod:`.grid`: the candidates a sweep tries (the default grid, targets, data-aware twins);
* :mod:`.sweep`: quantize a grid, evaluate, select, report;
* :mod:`.candidates`: the grid's entries quantized, saved and evaluated;
* :mod:`.result`: what a sweep returns, :class:`SweepResult`;
* :mod:`.parallel`: a sweep's evaluations on an executor (processes, threads, a Dask cluster);
* :mod:`.mixed`: per-layer mixed precision, from each weight's costs (:mod:`.sensitivity`);
* :mod:`.report` and :mod:`.plots`: what a sweep writes;
* :mod:`.demo`: the built-in example model and data.
"""

from .grid import GridEntry, default_grid
from .mixed import MixedPrecisionPlan, search_mixed_precision
from .result import SweepResult
from .sweep import sweep

__all__ = ["GridEntry", "MixedPrecisionPlan", "SweepResult", "default_grid", "search_mixed_precision", "sweep"]
