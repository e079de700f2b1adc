"""Model formats behind one boundary: :class:`Model`, :class:`WeightInfo` and :func:`load`.

Each Core ML format lives in its own subpackage (``neuralnetwork``: ``.mlmodel`` files holding a
NeuralNetwork; ``mlprogram``: ``.mlpackage`` folders holding an ML Program); quantizers, the
evaluator, the selector and the sweep only see :class:`Model`.
"""

from ._load import from_bytes, load
from ._model import LayerSummary, Model, WeightInfo, weight_layer_types
from ._validate import problems
from .mlprogram import MLProgramModel
from .neuralnetwork import NeuralNetworkModel

__all__ = [
    "LayerSummary",
    "MLProgramModel",
    "Model",
    "NeuralNetworkModel",
    "WeightInfo",
    "from_bytes",
    "load",
    "problems",
    "weight_layer_types",
]
