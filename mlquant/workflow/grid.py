"""The grid a sweep tries: named candidates, the default grid, and what a target allows.

The default grid is the one people run by hand with coremltools: linear, linear look-up table
and k-means look-up table at 8, 7 ... 1 bits, and float16 (which is what coremltools' 16 bits
means for every method). Given a model, it keeps only what the model's format stores by the
sweep's target, and adds the iOS18 forms (grouped-channel tables, per-block linear weights)
where they are allowed. With calibration statistics every entry gets a data-aware twin.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..calibrate import Calibration
from ..formats import Model
from ..quantize import (
    DataAware,
    Float16Quantizer,
    KMeansLUTQuantizer,
    LinearQuantizer,
    QuantizationPlan,
    Quantizer,
    from_name,
    storage_problem,
)
from ..weights import PerBlock, PerGroupedChannel
from ..weights.storage import spec_version

__all__ = [
    "DEFAULT_METHODS",
    "DEFAULT_WIDTHS",
    "GridEntry",
    "data_aware_entries",
    "default_grid",
    "sweep_target",
]

DEFAULT_METHODS = ("linear", "linear_lut", "kmeans_lut")
DEFAULT_WIDTHS = (16, 8, 7, 6, 5, 4, 3, 2, 1)


@attrs.frozen
class GridEntry:
    """One candidate to make: a name and the quantizer (or per-layer plan) that makes it."""

    name: str
    """The candidate's name, e.g. ``kmeans_lut_6``; also its model file's name."""
    quantizer: Quantizer | QuantizationPlan
    """What quantizes it."""
    method: str
    """Its strategy, for reports and tie-breaking."""
    nbits: int | None = None
    """Its width, where there is one."""

    @classmethod
    def of(cls, quantizer: Quantizer | QuantizationPlan | GridEntry) -> GridEntry:
        """Wrap a quantizer (built-in or a user's) as a grid entry named after it."""
        if isinstance(quantizer, GridEntry):
            return quantizer
        if isinstance(quantizer, QuantizationPlan):
            return cls("plan", quantizer, "mixed")
        return cls(quantizer.name, quantizer, quantizer.method, quantizer.nbits)


def default_grid(
    methods: Sequence[str] = DEFAULT_METHODS,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    *,
    model: Model | None = None,
    max_target: str | int | None = None,
) -> tuple[GridEntry, ...]:
    """The grid users run by hand: every method at every width 1-8, and float16 once.

    16 bits means float16 whatever the method (as in coremltools), so a 16 in ``widths`` (or
    ``float16`` in ``methods``) adds the one ``float16`` candidate rather than one per method.

    Given a ``model``, the grid holds only what its format stores by ``max_target``: an ML
    Program takes tables at 1, 2, 4, 6 and 8 bits and 8-bit linear weights from iOS16; from
    iOS18 it also takes 3-bit and grouped-channel tables and 4-bit per-block linear weights,
    and the grid then adds k-means tables per group of 16 channels at 4, 3 and 2 bits and
    4-bit linear weights per block of 32 (the forms ``coremltools.optimize`` recommends).
    """
    entries = []
    if 16 in widths or "float16" in methods:
        entries.append(GridEntry.of(Float16Quantizer()))
    for method in methods:
        if method != "float16":
            entries += [GridEntry.of(from_name(method, n)) for n in widths if n != 16]
    if model is None:
        return tuple(entries)
    extra = [GridEntry.of(KMeansLUTQuantizer(nbits=n, granularity=PerGroupedChannel(16))) for n in (4, 3, 2)
             if "kmeans_lut" in methods and n in widths]
    if "linear" in methods and 4 in widths:
        extra.append(GridEntry.of(LinearQuantizer(nbits=4, granularity=PerBlock(32))))
    return tuple(e for e in (*entries, *extra)
                 if isinstance(e.quantizer, Quantizer) and storage_problem(model, e.quantizer, max_target) is None)


def sweep_target(model: Model, target: str | int | None) -> int:
    """The latest deployment target a sweep of ``model`` proposes forms for.

    ``target`` if given; otherwise iOS17, or the model's own target if it is later: forms that
    need iOS18 (grouped-channel tables, per-block linear weights) are proposed only when asked
    for or when the model already requires iOS18.
    """
    if target is not None:
        return spec_version(target)
    return max(int(model.spec.specificationVersion), spec_version(_DEFAULT_SWEEP_TARGET))


#: The latest target a sweep proposes forms for unless told otherwise (see :func:`sweep_target`).
_DEFAULT_SWEEP_TARGET = "iOS17"


def data_aware_entries(entries: Sequence[GridEntry], calibration: Calibration) -> list[GridEntry]:
    """The data-aware twin of every grid quantizer but float16 (plans and data-aware ones are left out)."""
    twins = []
    for entry in entries:
        quantizer = entry.quantizer
        if isinstance(quantizer, Quantizer) and not isinstance(quantizer, (DataAware, Float16Quantizer)):
            aware = DataAware(quantizer, calibration)
            twins.append(GridEntry(aware.name, aware, f"{entry.method}_data", entry.nbits))
    return twins
