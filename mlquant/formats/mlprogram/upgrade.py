"""Rewriting iOS16 constexpr ops into their iOS18 forms, for a program raised to iOS18.

iOS18 redefines ``constexpr_lut_to_dense``, ``constexpr_sparse_to_dense`` and ``constexpr_cast``
(parameters as inputs; indices and masks in the tensor's shape), so a program whose opset
becomes ``CoreML8`` must not keep their iOS16 forms. The values stay exactly the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...weights.packing import unpack_indices
from .constexpr import BlobReader, Constants, op_name, params
from .program import producers
from .values import UINT_OF_BITS, MilType, by_name, mil_type, shape_of

__all__ = ["to_ios18_forms"]


def to_ios18_forms(spec: Any, blobs: BlobReader | None, build: Callable[..., Any]) -> None:
    """Rewrite the iOS16 forms of the ops iOS18 redefines into their iOS18 forms, with the same values.

    ``constexpr_lut_to_dense`` gets its indices unpacked to the tensor's shape and its table the
    rank + 2 shape; ``constexpr_sparse_to_dense`` its mask as ``uint1`` in the tensor's shape;
    ``constexpr_cast`` its parameters as inputs. (``constexpr_affine_dequantize`` is the same op
    in iOS18 and stays as it is.)

    Args:
        spec: The model message to change in place.
        blobs: Reads the blobs its values refer to.
        build: Makes an op: ``(type, name, output, output type, shape, parameters, inputs_style=True)``.
    """
    blocks = (b for f in spec.mlProgram.functions.values() for b in f.block_specializations.values())
    for block in blocks:
        constants = Constants(producers(block), blobs)
        for index, op in enumerate(block.operations):
            if op.type not in ("constexpr_lut_to_dense", "constexpr_sparse_to_dense", "constexpr_cast"):
                continue
            if not op.attributes.keys() - {"name"}:
                continue
            args = {key: constants.param(value) for key, value in params(op).items()}
            out, shape = mil_type(op.outputs[0].type.tensorType.dataType), shape_of(op.outputs[0].type)
            if op.type == "constexpr_lut_to_dense":
                nbits = int(args["lut"].size).bit_length() - 1
                indices = unpack_indices(args["indices"].astype(np.uint8), int(np.prod(shape)), nbits, order="little")
                lut = args["lut"].reshape([1] * len(shape) + [2**nbits, 1])
                parameters = {"indices": (indices.reshape(shape), UINT_OF_BITS[nbits]), "lut": (lut, out)}
            elif op.type == "constexpr_sparse_to_dense":
                bits = np.unpackbits(args["mask"].reshape(-1).astype(np.uint8), bitorder="little")
                nonzero = _value_type(op, "nonzero_data")
                parameters = {"nonzero_data": (args["nonzero_data"], nonzero),
                              "mask": (bits[: int(np.prod(shape))].reshape(shape), by_name("uint1"))}
            else:
                parameters = {"source_val": (args["source_val"], by_name("fp16")),
                              "output_dtype": (args["output_dtype"], by_name("string"))}
            new = build(op.type, op_name(op), op.outputs[0].name, out, shape, parameters, inputs_style=True)
            block.operations[index].CopyFrom(new)


def _value_type(op: Any, key: str) -> MilType:
    value = params(op)[key]
    return mil_type(value.type.tensorType.dataType)
