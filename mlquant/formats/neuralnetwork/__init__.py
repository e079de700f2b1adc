"""The NeuralNetwork format (``.mlmodel``): layout, weight codec, validator and exact rewrites.

Only this subpackage knows ``NeuralNetwork.proto``'s layout; everything above it works on
:class:`~mlquant.Model` and :class:`~mlquant.WeightInfo`.
"""

from .model import NeuralNetworkModel

__all__ = ["NeuralNetworkModel"]
