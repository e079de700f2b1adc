"""The reference runtime: numpy executors of Core ML models, one per format.

Core ML predicts only on Apple platforms; these executors run the same arithmetic anywhere
numpy does, so a model's accuracy (and a quantized model's accuracy) can be measured on Linux:

* :mod:`.neuralnetwork`: NeuralNetwork layers, as ``NeuralNetwork.proto`` defines them.

    from mlquant.runtime import Network

    net = Network(model)                      # raises for layers it cannot run
    probabilities = net.run({"data": images})["prob"]   # images: (B, 3, H, W), 0-255

See ``docs/runtime.md`` for the supported layers, the tensor layout and the known
differences from Core ML.
"""

from .neuralnetwork import Network

__all__ = ["Network"]
