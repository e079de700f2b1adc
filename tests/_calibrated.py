"""The check that calibration pays, shared by the data-aware tests of both formats."""

from __future__ import annotations

from collections.abc import Sequence

import mlquant


def assert_data_aware_loses_less(
    model: mlquant.Model,
    part: mlquant.ImageFolder,
    judged: mlquant.ImageFolder,
    plains: Sequence[mlquant.Quantizer],
) -> None:
    """Calibrated on ``part`` and judged on ``judged``, the data-aware twin of each quantizer of ``plains``
    agrees with the float model more often than the plain quantizer; at 2 bits it also loses less mean
    class accuracy."""
    calibration = mlquant.calibrate(model, part)
    evaluator = mlquant.Evaluator(judged, backend=mlquant.ReferenceBackend(), batch_size=512)
    base = evaluator.evaluate(model)
    for plain in plains:
        lost = {}
        for quantizer in (plain, mlquant.DataAware(plain, calibration)):
            result = evaluator.evaluate(mlquant.quantize(model, quantizer), reference=base)
            lost[quantizer.name] = (1 - result.top1_agreement, base.mean_class_accuracy - result.mean_class_accuracy)
        aware, alone = lost[f"{plain.name}_data"], lost[plain.name]
        assert aware[0] < alone[0], lost
        if plain.nbits == 2:
            assert aware[1] < alone[1], lost
