"""NeuralNetwork layers as ONNX operators (not written yet)."""

from __future__ import annotations

from typing import Any

from ....errors import UnsupportedModelError

__all__ = ["translate"]


def translate(model: Any, *, precision: str = "model") -> Any:
    """Translate a NeuralNetwork model into a :class:`~mlquant.runtime.onnx.Translated` graph."""
    msg = "the onnxruntime backend cannot translate NeuralNetwork models yet"
    raise UnsupportedModelError(msg)
