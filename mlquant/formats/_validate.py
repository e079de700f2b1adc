"""``mlquant.problems``: what Core ML's validator would reject, for a model of any format."""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedModelError
from ._model import Model
from .neuralnetwork import NeuralNetworkModel
from .neuralnetwork import validate as neuralnetwork

__all__ = ["problems"]


def problems(model: Model | Any) -> list[str]:
    """Return what is structurally wrong with a model's weights (empty if nothing).

    Args:
        model: A :class:`~mlquant.Model`, or a ``CoreML.Specification.Model`` message holding a
            neural network (a spec is checked without building a model, which would refuse it).

    Returns:
        One message per problem, each naming the layer and field.

    Raises:
        UnsupportedModelError: A spec of a format mlquant does not read.
    """
    if isinstance(model, Model):
        return model.problems()
    if NeuralNetworkModel.holds(model):
        return neuralnetwork.problems(model)
    kind = model.WhichOneof("Type") if hasattr(model, "WhichOneof") else None
    msg = f"problems() takes an mlquant Model or a NeuralNetwork spec (got a spec of type {kind or type(model).__name__})"
    raise UnsupportedModelError(msg)
