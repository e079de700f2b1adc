"""Writing quantized weights into an ML Program: constexpr ops in place of ``const`` ops, a compact ``weight.bin``.

Each replaced weight keeps its output name (so its consumers are untouched) and its op name;
its producer becomes the op that stores the form, as the op definitions spell it:

* :class:`~mlquant.Float16Weights`: a float16 ``const`` in a float16 program; in a float32
  program ``constexpr_cast`` to fp32 (iOS16);
* :class:`~mlquant.LUTWeights`: ``constexpr_lut_to_dense`` with packed ``uint8`` indices,
  ``lut`` and ``shape`` (iOS16, 1, 2, 4, 6, 8 bits), or its iOS18 form (indices ``uintN`` in the
  tensor's shape, ``lut`` of rank + 2) in an iOS18 program or for 3 bits;
* :class:`~mlquant.GroupedLUTWeights`: the iOS18 ``constexpr_lut_to_dense``, one table per group;
* :class:`~mlquant.AffineWeights`: ``constexpr_affine_dequantize`` (iOS16, 8 bits per tensor or
  channel) or ``constexpr_blockwise_shift_scale`` (iOS18).

The iOS16 forms take their parameters as attributes, iOS18 ones as inputs. Ops that only fed
a replaced weight are dropped; the blob file is rewritten with exactly the blobs the program
refers to, in op order. The specification version and every function's opset are raised only
as far as a written form needs; raising a program to iOS18 rewrites the iOS16 forms of the ops
iOS18 redefines (look-up tables, sparse masks, casts) into their iOS18 forms, values unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._coreml import new_spec
from ...errors import QuantizationError, UnsupportedModelError
from ...weights import AffineWeights, Float16Weights, GroupedLUTWeights, LUTWeights, QuantizedWeights
from ...weights.storage import layout_of
from . import program as prog
from .blob import BlobWriter
from .constexpr import op_name, params
from .package import WEIGHT_FILE
from .storage import MLPROGRAM_STORAGE
from .upgrade import to_ios18_forms
from .values import UINT_OF_BITS, MilType, by_name, immediate_value, tensor_type

if TYPE_CHECKING:
    from .model import MLProgramModel

__all__ = ["IOS16", "IOS18", "blob_files", "form_problem", "replace", "without_weights"]

IOS16, IOS18 = 7, 9
_PENDING = "\0pending"
#: Values this large go to the blob file, smaller ones stay immediate (as coremltools decides).
_BLOB_MIN_SIZE = 10


def form_problem(form: QuantizedWeights) -> str | None:
    """Why an ML Program cannot store ``form``, or None if it can."""
    if MLPROGRAM_STORAGE.minimum_target(form) is None:
        return MLPROGRAM_STORAGE.explain(form)
    return None


def values_of(block: Any) -> Iterator[Any]:
    """Every ``Value`` message bound in ``block``: op attributes and literal inputs, nested blocks included."""
    for op in prog.operations(block):
        yield from op.attributes.values()
        for argument in op.inputs.values():
            for binding in argument.arguments:
                if binding.WhichOneof("binding") == "value":
                    yield binding.value


def _blocks(spec: Any) -> Iterator[Any]:
    for function in spec.mlProgram.functions.values():
        yield from function.block_specializations.values()


def blob_files(spec: Any) -> set[str]:
    """The blob files a program's values refer to."""
    return {v.blobFileValue.fileName for block in _blocks(spec) for v in values_of(block)
            if v.WhichOneof("value") == "blobFileValue"}


class _Writer:
    """Builds the new ops of one replacement, their large values pending until the blob file is written."""

    def __init__(self, pending: list[tuple[np.ndarray, MilType]], inputs_style: bool) -> None:
        self.pending = pending
        self.inputs_style = inputs_style

    def value(self, target: Any, array: np.ndarray, kind: MilType) -> Any:
        array = np.asarray(array)
        if kind.blob is not None and (array.size >= _BLOB_MIN_SIZE or kind.sub_byte):
            tensor_type(target.type, kind.code, array.shape)
            target.blobFileValue.fileName = _PENDING
            target.blobFileValue.offset = len(self.pending)
            self.pending.append((array, kind))
            return target
        return immediate_value(target, array.astype(kind.dtype), kind)

    def op(self, kind: str, name: str, output: str, out_type: MilType, shape: tuple[int, ...],
           parameters: dict[str, tuple[np.ndarray, MilType]], *, inputs_style: bool | None = None) -> Any:
        op = new_spec().mlProgram.functions["f"].block_specializations["b"].operations.add()
        op.type = kind
        immediate_value(op.attributes["name"], np.array(name, dtype=object), by_name("string"))
        style = self.inputs_style if inputs_style is None else inputs_style
        for key, (array, param_kind) in parameters.items():
            target = op.inputs[key].arguments.add().value if style else op.attributes[key]
            self.value(target, array, param_kind)
        out = op.outputs.add()
        out.name = output
        tensor_type(out.type, out_type.code, shape)
        return op


def _needed(form: QuantizedWeights | np.ndarray, out: MilType) -> int:
    if not isinstance(form, QuantizedWeights):
        return 0
    target = MLPROGRAM_STORAGE.minimum_target(form)
    if target is None:
        raise QuantizationError(MLPROGRAM_STORAGE.explain(form))
    if isinstance(form, Float16Weights) and out.name != "fp16":
        target = max(target, IOS16)
    return target


def _new_op(w: _Writer, slot: prog.Slot, name: str, form: QuantizedWeights | np.ndarray, version: int) -> Any:
    out, shape = slot.kind, slot.shape
    u32, i32 = by_name("uint32"), by_name("int32")
    if not isinstance(form, QuantizedWeights):
        return w.op("const", name, slot.producer, out, shape, {"val": (np.asarray(form, np.float32), out)},
                    inputs_style=False)
    if isinstance(form, Float16Weights):
        half = by_name("fp16")
        if out.name == "fp16":
            return w.op("const", name, slot.producer, out, shape, {"val": (form.values, half)}, inputs_style=False)
        return w.op("constexpr_cast", name, slot.producer, out, shape, {
            "source_val": (form.values, half), "output_dtype": (np.array(out.name, dtype=object), by_name("string"))})
    if isinstance(form, LUTWeights) and version < IOS18:
        return w.op("constexpr_lut_to_dense", name, slot.producer, out, shape, {
            "indices": (_packed(form.indices, form.nbits), by_name("uint8")),
            "lut": (form.table, out), "shape": (np.array(shape, np.uint32), u32)})
    if isinstance(form, (LUTWeights, GroupedLUTWeights)):
        lut_shape = [1] * len(shape) + [2**form.nbits, 1]
        tables = form.table if isinstance(form, LUTWeights) else form.tables
        if isinstance(form, GroupedLUTWeights):
            lut_shape[form.axis] = form.groups
        return w.op("constexpr_lut_to_dense", name, slot.producer, out, shape, {
            "indices": (form.indices, UINT_OF_BITS[form.nbits]), "lut": (tables.reshape(lut_shape), out)})
    if isinstance(form, AffineWeights):
        data_kind = by_name(("int" if form.signed else "uint") + str(form.nbits))
        zero = form.offset
        # Whole zero points are stored as integers of the data's type (as coremltools does), others as floats.
        whole = bool(np.array_equal(zero, np.rint(zero)))
        if version < IOS18 and layout_of(form) in ("tensor", "channel"):
            spread = [i for i, n in enumerate(form.scale.shape) if n > 1]
            axis = spread[0] if spread else 0
            scale, zero = (form.scale.reshape(-1), zero.reshape(-1)) if spread else (form.scale.reshape(()), zero.reshape(()))
            zero_kind = data_kind if whole else by_name("fp32")
            return w.op("constexpr_affine_dequantize", name, slot.producer, out, shape, {
                "quantized_data": (form.data, data_kind), "zero_point": (zero.astype(zero_kind.dtype), zero_kind),
                "scale": (scale, out), "axis": (np.array(axis, np.int32), i32)})
        parameters = {"data": (form.data, data_kind), "scale": (form.scale, out)}
        if np.any(zero):
            offset_kind = data_kind if whole else out
            parameters["offset"] = (zero.astype(offset_kind.dtype), offset_kind)
        return w.op("constexpr_blockwise_shift_scale", name, slot.producer, out, shape, parameters)
    msg = f"an ML Program cannot store {type(form).__name__}"
    raise QuantizationError(msg)


def _packed(indices: np.ndarray, nbits: int) -> np.ndarray:
    from ...weights.packing import pack_indices

    return np.frombuffer(pack_indices(indices, nbits, order="little"), dtype=np.uint8)


def replace(model: MLProgramModel, new: Mapping[int, QuantizedWeights | np.ndarray]) -> tuple[Any, dict[str, bytes]]:
    """A new spec and blob file with the given weights replaced.

    Raises:
        QuantizationError: A form an ML Program cannot store.
    """
    spec = model.copy_spec()
    slots = model.slots
    current = int(spec.specificationVersion)
    version = max([current] + [_needed(form, slots[i].kind) for i, form in new.items()])
    pending: list[tuple[np.ndarray, MilType]] = []
    writer = _Writer(pending, inputs_style=version >= IOS18)
    if version >= IOS18 > current:
        to_ios18_forms(spec, model.read_blob if model.blob_files else None, writer.op)
    block = prog.main_block(spec, model.function_name)
    made = prog.producers(block)
    dropped: set[str] = set()
    positions = {out.name: i for i, op in enumerate(block.operations) for out in op.outputs}
    for index, form in new.items():
        slot = slots[index]
        old, _ = made[slot.producer]
        dropped |= _feeders(old, made)
        op = _new_op(writer, slot, op_name(old), form, version)
        if slot.producer in positions:
            block.operations[positions[slot.producer]].CopyFrom(op)
        else:
            _put(block, slot.producer, op)
    _drop_unused(block, dropped)
    if version > current:
        _raise_version(spec, version)
    files = model.blob_files
    writer_out = BlobWriter()
    copied: dict[tuple[str, int], int] = {}
    for value in (v for b in _blocks(spec) for v in values_of(b)):
        if value.WhichOneof("value") != "blobFileValue":
            continue
        ref = value.blobFileValue
        if ref.fileName == _PENDING:
            array, kind = pending[int(ref.offset)]
            offset = writer_out.add(array, kind)
        else:
            key = (ref.fileName, int(ref.offset))
            if key not in copied:
                record = files[ref.fileName].record(key[1])
                raw = files[ref.fileName].raw(key[1])
                copied[key] = writer_out.add_raw(raw, record.kind, record.padding_bits)
            offset = copied[key]
        ref.fileName, ref.offset = WEIGHT_FILE, offset
    keep = writer_out.count or files
    return spec, ({WEIGHT_FILE: writer_out.to_bytes()} if keep else {})


def _feeders(op: Any, made: dict[str, tuple[Any, int]]) -> set[str]:
    """Output names of the constexpr ops whose outputs ``op`` reads (recursively)."""
    found: set[str] = set()
    for value in params(op).values():
        if isinstance(value, str) and value in made and prog.is_constant(made[value][0]):
            found.add(value)
            found |= _feeders(made[value][0], made)
    return found


def _put(block: Any, output: str, op: Any) -> None:
    for index, current in enumerate(block.operations):
        if any(out.name == output for out in current.outputs):
            block.operations[index].CopyFrom(op)
            return
        for inner in current.blocks:
            if any(out.name == output for o in prog.operations(inner) for out in o.outputs):
                _put(inner, output, op)
                return
    msg = f"no operation outputs {output!r}"
    raise UnsupportedModelError(msg)


def _drop_unused(block: Any, candidates: set[str]) -> None:
    """Remove the ops among ``candidates``' producers that nothing reads any more."""
    while True:
        used = {b.name for op in prog.operations(block) for a in op.inputs.values() for b in a.arguments if b.name}
        used |= set(block.outputs)
        gone = [i for i, op in enumerate(block.operations)
                if any(o.name in candidates for o in op.outputs) and not any(o.name in used for o in op.outputs)]
        if not gone:
            return
        for index in reversed(gone):
            del block.operations[index]


def _raise_version(spec: Any, version: int) -> None:
    spec.specificationVersion = version
    opset = prog.OPSETS[version]
    for function in spec.mlProgram.functions.values():
        old = function.opset
        if old == opset:
            continue
        block = function.block_specializations[old]
        function.block_specializations[opset].CopyFrom(block)
        del function.block_specializations[old]
        function.opset = opset


def without_weights(spec: Any, function: str, slots: list[prog.Slot]) -> Any:
    """A copy of ``spec`` without the ops that produce weights, nor the specification version and opsets:
    what stays the same when only the storage of weights changes."""
    copy = new_spec()
    copy.CopyFrom(spec)
    copy.specificationVersion = 0
    for fn in copy.mlProgram.functions.values():
        names = list(fn.block_specializations)
        for name in names:
            fn.block_specializations["-"].CopyFrom(fn.block_specializations[name])
            del fn.block_specializations[name]
        fn.opset = "-"
    block = copy.mlProgram.functions[function].block_specializations["-"]
    made = prog.producers(block)
    dropped = {slot.producer for slot in slots}
    for slot in slots:
        dropped |= _feeders(made[slot.producer][0], made)
    kept = [op for op in block.operations if not any(o.name in dropped for o in op.outputs)]
    del block.operations[:]
    block.operations.extend(kept)
    return copy

