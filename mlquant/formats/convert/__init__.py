"""NeuralNetwork models rewritten as ML Programs: :func:`convert`."""

from .program import PRECISIONS, TARGETS, convert

__all__ = ["PRECISIONS", "TARGETS", "convert"]
