"""The reference runtime: numpy executors of Core ML models, one per format.

Core ML predicts only on Apple platforms; these executors run the same arithmetic anywhere
numpy does, so a model's accuracy (and a quantized model's accuracy) can be measured on Linux:

* :mod:`.neuralnetwork`: NeuralNetwork layers, as ``NeuralNetwork.proto`` defines them.
* :mod:`.mlprogram`: ML Program (MIL) operations, as coremltools' op definitions describe them.

    from mlquant.runtime import Network

    net = Network(model)                      # raises for layers it cannot run
    probabilities = net.run({"data": images})["prob"]   # images: (B, 3, H, W), 0-255

    program = MILProgram(mlprogram_model)     # precision="float32" to skip fp16 rounding
    outputs = program.run({"x": images})

See ``docs/runtime.md`` for the supported layers, the tensor layout and the known
differences from Core ML.
"""

from .mlprogram import MILProgram
from .neuralnetwork import Network

__all__ = ["MILProgram", "Network"]
