"""One NeuralNetwork layer on its way into MIL: its spec, its inputs and its weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import UnsupportedLayerError

__all__ = ["Layer"]


class Layer:
    """A layer being translated: its spec, its inputs (MIL values) and a way to its weights."""

    def __init__(self, layer: Any, params: Any, inputs: list[Any], weight: Callable[[Any, str], np.ndarray]):
        self.layer = layer
        self.params = params
        self.inputs = inputs
        self.name: str = layer.name
        self._weight = weight

    def array(self, field: str) -> np.ndarray:
        """The layer's weight ``field`` as a float32 array (dequantized if it is stored quantized)."""
        return self._weight(self.layer, field)

    def weight(self, field: str, shape: tuple[int, ...] | None = None) -> Any:
        """The layer's weight ``field`` as a MIL const named ``<layer>_<field>``, reshaped if asked."""
        from coremltools.converters.mil import Builder as mb

        values = self.array(field)
        if shape is not None:
            values = values.reshape(shape)
        return mb.const(val=values, name=f"{self.name}_{field}")

    def unsupported(self, what: str) -> UnsupportedLayerError:
        """The error for a form of this layer that has no translation."""
        msg = f"layer '{self.name}' ({self.layer.WhichOneof('layer')}): {what} has no ML Program translation"
        return UnsupportedLayerError(msg)
