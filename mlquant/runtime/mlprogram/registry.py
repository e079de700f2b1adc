"""The one table of operation kernels: MIL operation type to kernel builder.

A builder takes an :class:`~._context.OpContext` and returns a kernel; an operation type
missing here makes :class:`~.program.MILProgram` raise ``UnsupportedLayerError``. ``const`` and
the ``constexpr_*`` operations have no kernel: the executor reads their values from the model.
"""

from __future__ import annotations

from collections.abc import Callable

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
from ._context import Kernel, OpContext

_Builder = Callable[[OpContext], Kernel]

#: Operation type -> kernel builder.
KERNELS: dict[str, _Builder] = {
    **dict.fromkeys(activation.SIMPLE, activation.build_simple),
    **dict.fromkeys(activation.WITH_ALPHA, activation.build_with_alpha),
    "clip": activation.build_clip,
    "gelu": activation.build_gelu,
    "prelu": activation.build_prelu,
    "softmax": activation.build_softmax,
    "softplus_parametric": activation.build_softplus_parametric,
    "conv": conv.build_conv,
    "conv_transpose": conv.build_conv_transpose,
    **dict.fromkeys(elementwise.BINARY, elementwise.build_binary),
    **dict.fromkeys(elementwise.UNARY, elementwise.build_unary),
    **dict.fromkeys(elementwise.EPSILON, elementwise.build_with_epsilon),
    "threshold": elementwise.build_threshold,
    "select": elementwise.build_select,
    "linear": linear.build_linear,
    "matmul": linear.build_matmul,
    "einsum": linear.build_einsum,
    "scaled_dot_product_attention": linear.build_scaled_dot_product_attention,
    "cast": misc.build_cast,
    "classify": misc.build_classify,
    "fill": misc.build_fill,
    "range_1d": misc.build_range_1d,
    "shape": misc.build_shape,
    "batch_norm": normalize.build_batch_norm,
    "instance_norm": normalize.build_instance_norm,
    "l2_norm": normalize.build_l2_norm,
    "layer_norm": normalize.build_layer_norm,
    "local_response_norm": normalize.build_local_response_norm,
    "argsort": ordering.build_argsort,
    "band_part": ordering.build_band_part,
    "cumsum": ordering.build_cumsum,
    "fill_like": ordering.build_fill_like,
    "reverse": ordering.build_reverse,
    "topk": ordering.build_topk,
    "avg_pool": pool.build_avg_pool,
    "l2_pool": pool.build_l2_pool,
    "max_pool": pool.build_max_pool,
    **dict.fromkeys(reduce.REDUCTIONS, reduce.build_reduce),
    **dict.fromkeys(reduce.ARG_REDUCTIONS, reduce.build_arg_reduce),
    "resize_bilinear": resize.build_resize_bilinear,
    "resize_nearest_neighbor": resize.build_resize_nearest_neighbor,
    "upsample_bilinear": resize.build_upsample_bilinear,
    "upsample_nearest_neighbor": resize.build_upsample_nearest_neighbor,
    "concat": shape.build_concat,
    "depth_to_space": shape.build_depth_to_space,
    "expand_dims": shape.build_expand_dims,
    "flatten2d": shape.build_flatten2d,
    "pixel_shuffle": shape.build_depth_to_space,
    "reshape": shape.build_reshape,
    "space_to_depth": shape.build_space_to_depth,
    "split": shape.build_split,
    "squeeze": shape.build_squeeze,
    "stack": shape.build_stack,
    "tile": shape.build_tile,
    "transpose": shape.build_transpose,
    "gather": slicing.build_gather,
    "gather_along_axis": slicing.build_gather_along_axis,
    "pad": slicing.build_pad,
    "slice_by_index": slicing.build_slice_by_index,
    "slice_by_size": slicing.build_slice_by_size,
}

#: Operation types whose value the model gives (:meth:`const_value`), never computed here.
CONSTANT_OPS = frozenset({"const"})


def is_constant_op(op_type: str) -> bool:
    """Whether an operation's value comes from the model (``const``, ``constexpr_*``)."""
    return op_type in CONSTANT_OPS or op_type.startswith("constexpr_")
