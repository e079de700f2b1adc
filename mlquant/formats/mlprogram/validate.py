"""A structural validator for ML Program weights: the ML Program counterpart of the NeuralNetwork one.

It checks what mlquant writes, and what Core ML's MIL loader checks before it runs a program:

* the specification version and every function's opset agree (``CoreML6`` is iOS16...), and
  each constexpr op is in the form its opset defines (iOS16 forms keep parameters as
  attributes, iOS18 forms as inputs; iOS18-only ops need iOS18);
* every blob a value refers to: a 64-byte aligned record with the sentinel inside the file, its
  data inside the file and aligned, of the value's type and element count;
* the file's header counts exactly the blobs the program refers to (no orphans);
* each constexpr op's parameters have the types its definition allows (look-up tables of
  ``2**nbits`` entries, integer data for affine ops...), and its value, decoded, has the shape and
  type its output declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import MlquantError
from . import program as prog
from .constexpr import Constants, op_name, params
from .values import mil_type, shape_of, tensor_value

if TYPE_CHECKING:
    from .model import MLProgramModel

__all__ = ["problems"]

_IOS18_ONLY = ("constexpr_blockwise_shift_scale", "constexpr_lut_to_sparse", "constexpr_sparse_blockwise_shift_scale")
_REDEFINED_IN_IOS18 = ("constexpr_lut_to_dense", "constexpr_sparse_to_dense", "constexpr_cast")
_ALLOWED: dict[str, dict[str, tuple[str, ...]]] = {
    "constexpr_affine_dequantize": {"quantized_data": ("int8", "uint8"), "zero_point": ("int8", "uint8", "fp32"),
                                    "scale": ("fp16", "fp32")},
    "constexpr_blockwise_shift_scale": {"data": ("int4", "uint4", "int8", "uint8", "fp16", "fp32"),
                                        "scale": ("fp16", "fp32"),
                                        "offset": ("int4", "uint4", "int8", "uint8", "fp16", "fp32")},
    "constexpr_lut_to_dense": {"lut": ("int8", "uint8", "fp16", "fp32"),
                               "indices": ("uint1", "uint2", "uint3", "uint4", "uint6", "uint8")},
    "constexpr_cast": {"source_val": ("fp16",)},
}


def problems(model: MLProgramModel) -> list[str]:
    """What is structurally wrong with ``model``'s program and blob file (empty if nothing)."""
    spec = model.spec
    found: list[str] = []
    version = int(spec.specificationVersion)
    expected = prog.OPSETS.get(version)
    for name, function in spec.mlProgram.functions.items():
        if expected is not None and function.opset != expected:
            found.append(f"function {name!r}: specification version {version} needs opset {expected} (got {function.opset})")
    found += _blob_problems(model)
    constants = Constants(prog.producers(model.block), model.read_blob if model.blob_files else None)
    for op in prog.operations(model.block):
        if not op.type.startswith("constexpr_"):
            continue
        where = f"operation '{op_name(op)}' ({op.type})"
        problem = _op_problem(op, version, constants)
        if problem:
            found.append(f"{where}: {problem}")
    return found


def _op_problem(op: Any, version: int, constants: Constants) -> str | None:
    args = params(op)
    attribute_style = bool(set(op.attributes) - {"name"})
    if op.type in _IOS18_ONLY and version < 9:
        return f"needs iOS18 (specification 9; the model has {version})"
    if version < 7:
        return f"constexpr ops need iOS16 (specification 7; the model has {version})"
    if op.type in _REDEFINED_IN_IOS18 and version >= 9 and attribute_style:
        return "is in its iOS16 form (parameters as attributes), which an iOS18 program does not accept"
    if op.type in _REDEFINED_IN_IOS18 and version < 9 and not attribute_style:
        return "is in its iOS18 form (parameters as inputs) in a program older than iOS18"
    for key, allowed in _ALLOWED.get(op.type, {}).items():
        value = args.get(key)
        if value is None or isinstance(value, str):
            continue
        kind = mil_type(value.type.tensorType.dataType).name
        if kind not in allowed:
            return f"{key} must be {' or '.join(allowed)} (got {kind})"
    if op.type == "constexpr_lut_to_dense":
        problem = _lut_problem(args, "shape" in args)
        if problem:
            return problem
    try:
        values = constants.outputs(op)
    except MlquantError as error:
        return str(error)
    for out, value in zip(op.outputs, values):
        declared = mil_type(out.type.tensorType.dataType)
        shape = shape_of(out.type)
        if tuple(value.shape) != shape:
            return f"output {out.name} declares shape {shape}, its parameters make {tuple(value.shape)}"
        if np.dtype(value.dtype) != declared.dtype:
            return f"output {out.name} declares {declared.name}, its parameters make {value.dtype}"
    return None


def _lut_problem(args: dict[str, Any], ios16: bool) -> str | None:
    lut, indices = args.get("lut"), args.get("indices")
    if lut is None or indices is None or isinstance(lut, str) or isinstance(indices, str):
        return None
    lut_shape, index_shape = shape_of(lut.type), shape_of(indices.type)
    if ios16:
        entries = int(np.prod(lut_shape))
        if len(lut_shape) != 1 or entries not in (2, 4, 16, 64, 256):
            return f"an iOS16 look-up table needs 2, 4, 16, 64 or 256 entries (got shape {lut_shape})"
        nbits = entries.bit_length() - 1
        shape = args["shape"]
        count = int(np.prod(tensor_value(shape, None))) if shape.WhichOneof("value") == "immediateValue" else None
        if count is not None and index_shape != (-(-count * nbits // 8),):
            return f"{count} {nbits}-bit indices need {-(-count * nbits // 8)} bytes (got shape {index_shape})"
        return None
    nbits = mil_type(indices.type.tensorType.dataType).nbits
    if len(lut_shape) != len(index_shape) + 2 or lut_shape[-2] != 2**nbits:
        return (f"{nbits}-bit indices of rank {len(index_shape)} need a table of rank {len(index_shape) + 2} "
                f"with {2**nbits} entries (got shape {lut_shape})")
    if any(n % g for n, g in zip(index_shape, lut_shape)):
        return f"table groups {lut_shape[:-2]} do not divide the indices' shape {index_shape}"
    return None


def _blob_problems(model: MLProgramModel) -> list[str]:
    from .write import values_of

    found: list[str] = []
    referenced: dict[str, set[int]] = {}
    for function in model.spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for value in values_of(block):
                if value.WhichOneof("value") != "blobFileValue":
                    continue
                ref = value.blobFileValue
                files = model.blob_files
                if ref.fileName not in files:
                    found.append(f"a value refers to blob file {ref.fileName}, which the package does not hold")
                    continue
                referenced.setdefault(ref.fileName, set()).add(int(ref.offset))
                try:
                    kind = mil_type(value.type.tensorType.dataType)
                    files[ref.fileName].read(int(ref.offset), kind, int(np.prod(shape_of(value.type))))
                except MlquantError as error:
                    found.append(str(error))
    for name, blob in model.blob_files.items():
        try:
            stored = set(blob.offsets())
        except MlquantError as error:
            found.append(str(error))
            continue
        orphans = stored - referenced.get(name, set())
        if orphans:
            found.append(f"{blob.name} holds {len(orphans)} blob(s) no value refers to (at {sorted(orphans)[:4]})")
    return found
