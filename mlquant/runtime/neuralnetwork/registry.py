"""The one table of layer kernels: layer type name to kernel builder.

A builder takes a :class:`~mlquant.runtime._base.LayerContext` and returns a kernel; a layer
type missing here makes :class:`~mlquant.runtime.Network` raise ``UnsupportedLayerError``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import activation, conv, dense, elementwise, misc, normalize, pool, shape, spatial
from ._base import Kernel, LayerContext

#: Layer type (the ``NeuralNetworkLayer.layer`` oneof name) -> kernel builder.
KERNELS: dict[str, Callable[[LayerContext], Kernel]] = {
    "activation": activation.build_activation,
    "add": elementwise.build_add,
    "average": elementwise.build_average,
    "batchnorm": normalize.build_batchnorm,
    "bias": elementwise.build_bias,
    "concat": shape.build_concat,
    "convolution": conv.build_convolution,
    "crop": spatial.build_crop,
    "dot": elementwise.build_dot,
    "embedding": dense.build_embedding,
    "flatten": shape.build_flatten,
    "innerProduct": dense.build_inner_product,
    "l2normalize": normalize.build_l2normalize,
    "loadConstant": misc.build_load_constant,
    "lrn": normalize.build_lrn,
    "max": elementwise.build_max,
    "min": elementwise.build_min,
    "multiply": elementwise.build_multiply,
    "mvn": normalize.build_mvn,
    "padding": spatial.build_padding,
    "permute": shape.build_permute,
    "pooling": pool.build_pooling,
    "reduce": misc.build_reduce,
    "reorganizeData": shape.build_reorganize_data,
    "reshape": shape.build_reshape,
    "scale": elementwise.build_scale,
    "sequenceRepeat": shape.build_sequence_repeat,
    "slice": shape.build_slice,
    "softmax": normalize.build_softmax,
    "split": shape.build_split,
    "unary": elementwise.build_unary,
    "upsample": spatial.build_upsample,
}

#: Layer types whose outputs may share memory with their first input (or, for loadConstant,
#: with the model): the executor never lets a later kernel write into such memory.
VIEW_KERNELS = frozenset(
    {"crop", "flatten", "loadConstant", "permute", "reorganizeData", "reshape", "slice", "split"}
)
