"""The one table of layer translators: layer type name to translator.

It covers every type of the reference runtime's :data:`~mlquant.runtime.neuralnetwork.registry.KERNELS`
(a test checks); a type missing here makes :func:`~mlquant.runtime.onnx.neuralnetwork.translate`
raise ``UnsupportedLayerError``.
"""

from __future__ import annotations

from . import activation, conv, dense, elementwise, misc, normalize, pool, shape, spatial
from ._base import Translator

#: Layer type (the ``NeuralNetworkLayer.layer`` oneof name) -> translator.
TRANSLATORS: dict[str, Translator] = {
    "activation": activation.translate_activation,
    "add": elementwise.translate_add,
    "average": elementwise.translate_average,
    "batchnorm": normalize.translate_batchnorm,
    "bias": elementwise.translate_bias,
    "concat": shape.translate_concat,
    "convolution": conv.translate_convolution,
    "crop": spatial.translate_crop,
    "dot": elementwise.translate_dot,
    "embedding": dense.translate_embedding,
    "flatten": shape.translate_flatten,
    "innerProduct": dense.translate_inner_product,
    "l2normalize": normalize.translate_l2normalize,
    "loadConstant": misc.translate_load_constant,
    "lrn": normalize.translate_lrn,
    "max": elementwise.translate_max,
    "min": elementwise.translate_min,
    "multiply": elementwise.translate_multiply,
    "mvn": normalize.translate_mvn,
    "padding": spatial.translate_padding,
    "permute": shape.translate_permute,
    "pooling": pool.translate_pooling,
    "reduce": misc.translate_reduce,
    "reorganizeData": shape.translate_reorganize_data,
    "reshape": shape.translate_reshape,
    "scale": elementwise.translate_scale,
    "sequenceRepeat": shape.translate_sequence_repeat,
    "slice": shape.translate_slice,
    "softmax": normalize.translate_softmax,
    "split": shape.translate_split,
    "unary": elementwise.translate_unary,
    "upsample": spatial.translate_upsample,
}
