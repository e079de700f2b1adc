"""The reference runtime: a numpy executor of Core ML NeuralNetwork models.

Core ML predicts only on Apple platforms; this runtime runs the same layer arithmetic, as
``NeuralNetwork.proto`` defines it, anywhere numpy does, so a model's accuracy (and a
quantized model's accuracy) can be measured on Linux::

    from mlquant.runtime import Network

    net = Network(model)                      # raises for layers it cannot run
    probabilities = net.run({"data": images})["prob"]   # images: (B, 3, H, W), 0-255

See ``docs/runtime.md`` for the supported layers, the tensor layout and the known
differences from Core ML.
"""

from __future__ import annotations

from .network import Network

__all__ = ["Network"]
