"""The NeuralNetwork executor: one numpy kernel per layer, run in layer order (see :class:`Network`)."""

from .network import Network

__all__ = ["Network"]
