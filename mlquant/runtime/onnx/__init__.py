"""A second engine: Core ML models translated into ONNX graphs and run by onnxruntime.

The reference runtime (:mod:`mlquant.runtime.neuralnetwork`, :mod:`mlquant.runtime.mlprogram`)
defines what Core ML computes; this package gives the same results several times faster by
handing the arithmetic to onnxruntime. One translator per format, into one :class:`Graph`:

* :mod:`.neuralnetwork`: NeuralNetwork layers to ONNX operators.
* :mod:`.mlprogram`: MIL operations to ONNX operators.

    from mlquant.runtime.onnx import OnnxProgram

    outputs = OnnxProgram(model).run({"data": images})   # same feeds and results as Network.run

Needs the optional extra: ``pip install 'mlquant[onnxruntime]'``.
"""

from ._graph import OPSET, Graph
from ._translated import Feed, Translated
from .executor import OnnxProgram

__all__ = ["OPSET", "Feed", "Graph", "OnnxProgram", "Translated"]
