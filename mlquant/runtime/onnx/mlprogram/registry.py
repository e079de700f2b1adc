"""The one table of translators: MIL operation type to the function writing its ONNX operators.

It covers every type of the reference runtime's :data:`~mlquant.runtime.mlprogram.registry.KERNELS`
(a test checks the two tables list the same types).
"""

from __future__ import annotations

from collections.abc import Callable

from ...mlprogram import activation as reference_activation
from ...mlprogram import elementwise as reference_elementwise
from ...mlprogram import reduce as reference_reduce
from . import (
    activation,
    conv,
    elementwise,
    linear,
    misc,
    normalize,
    ordering,
    pool,
    reduce,
    resize,
    shape,
    slicing,
)
from ._op import Op

_Translator = Callable[[Op], list[str]]

#: Operation type -> translator.
TRANSLATORS: dict[str, _Translator] = {
    **dict.fromkeys(reference_activation.SIMPLE, activation.translate_simple),
    **dict.fromkeys(reference_activation.WITH_ALPHA, activation.translate_with_alpha),
    "clip": activation.translate_clip,
    "gelu": activation.translate_gelu,
    "prelu": activation.translate_prelu,
    "softmax": activation.translate_softmax,
    "softplus_parametric": activation.translate_softplus_parametric,
    "conv": conv.translate_conv,
    "conv_transpose": conv.translate_conv_transpose,
    **dict.fromkeys(reference_elementwise.BINARY, elementwise.translate_binary),
    **dict.fromkeys(reference_elementwise.UNARY, elementwise.translate_unary),
    **dict.fromkeys(reference_elementwise.EPSILON, elementwise.translate_with_epsilon),
    "threshold": elementwise.translate_threshold,
    "select": elementwise.translate_select,
    "linear": linear.translate_linear,
    "matmul": linear.translate_matmul,
    "einsum": linear.translate_einsum,
    "scaled_dot_product_attention": linear.translate_scaled_dot_product_attention,
    "cast": misc.translate_cast,
    "classify": misc.translate_classify,
    "fill": misc.translate_fill,
    "range_1d": misc.translate_range_1d,
    "shape": misc.translate_shape,
    "batch_norm": normalize.translate_batch_norm,
    "instance_norm": normalize.translate_instance_norm,
    "l2_norm": normalize.translate_l2_norm,
    "layer_norm": normalize.translate_layer_norm,
    "local_response_norm": normalize.translate_local_response_norm,
    "argsort": ordering.translate_argsort,
    "band_part": ordering.translate_band_part,
    "cumsum": ordering.translate_cumsum,
    "fill_like": misc.translate_fill_like,
    "reverse": ordering.translate_reverse,
    "topk": ordering.translate_topk,
    **dict.fromkeys(("avg_pool", "l2_pool", "max_pool"), pool.translate_pool),
    **dict.fromkeys(reference_reduce.REDUCTIONS, reduce.translate_reduce),
    **dict.fromkeys(reference_reduce.ARG_REDUCTIONS, reduce.translate_arg_reduce),
    "resize_bilinear": resize.translate_resize_bilinear,
    "resize_nearest_neighbor": resize.translate_resize_nearest_neighbor,
    "upsample_bilinear": resize.translate_upsample_bilinear,
    "upsample_nearest_neighbor": resize.translate_upsample_nearest_neighbor,
    "concat": shape.translate_concat,
    "depth_to_space": shape.translate_depth_to_space,
    "expand_dims": shape.translate_expand_dims,
    "flatten2d": shape.translate_flatten2d,
    "pixel_shuffle": shape.translate_depth_to_space,
    "reshape": shape.translate_reshape,
    "space_to_depth": shape.translate_space_to_depth,
    "split": shape.translate_split,
    "squeeze": shape.translate_squeeze,
    "stack": shape.translate_stack,
    "tile": shape.translate_tile,
    "transpose": shape.translate_transpose,
    "gather": slicing.translate_gather,
    "gather_along_axis": slicing.translate_gather_along_axis,
    "pad": slicing.translate_pad,
    "slice_by_index": slicing.translate_slice_by_index,
    "slice_by_size": slicing.translate_slice_by_size,
}
