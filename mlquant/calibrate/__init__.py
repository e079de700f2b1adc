"""Calibration: what the user's data says about each weight, for data-aware quantization.

* :mod:`.statistics`: :class:`Calibration` and :class:`InputStatistics`, frozen values that
  quantizers read (no runtime needed);
* :mod:`.collect`: :func:`calibrate`, which runs the reference runtime over a sample of the data.
"""

from .collect import DEFAULT_MEMORY, calibrate
from .statistics import Calibration, InputStatistics

__all__ = ["DEFAULT_MEMORY", "Calibration", "InputStatistics", "calibrate"]
