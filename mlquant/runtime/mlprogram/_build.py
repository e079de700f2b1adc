"""Reading a program's main block into steps: constants, kernels, the batch decision, releases.

:func:`build` walks the operations in order. ``const`` and ``constexpr_*`` values come from the
model (``model.const_value(op)``); an operation whose inputs are all constant is computed once,
here; every other operation becomes a :class:`Step` with its kernel built now, so an operation
type without a kernel, or parameters a kernel cannot take, fail before any input is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidModelError, UnsupportedLayerError, UnsupportedModelError
from ...formats.mlprogram.constexpr import op_name
from ...formats.mlprogram.values import dtype_of, tensor_value
from .._failures import unexpected_as_internal
from ._batch import batch_safe
from ._context import Binding, Kernel, OpContext, Output
from ._fuse import fold_activations
from .registry import KERNELS, is_constant_op

_Shape = tuple[int | None, ...] | None


#: Operations whose every result is one of their inputs' values (moved, chosen or kept), so an
#: fp16 result of fp16 inputs needs no rounding: executors skip it (rounding is idempotent).
EXACT = frozenset({
    "concat", "depth_to_space", "expand_dims", "flatten2d", "gather", "gather_along_axis", "identity",
    "max_pool", "pixel_shuffle", "reduce_max", "reduce_min", "relu", "reshape", "reverse", "slice_by_index",
    "slice_by_size", "space_to_depth", "split", "squeeze", "stack", "tile", "transpose",
    "upsample_nearest_neighbor", "resize_nearest_neighbor",
})


@attrs.frozen
class Step:
    """One operation, ready to run."""

    name: str
    """The operation's name."""
    type: str
    """The operation type."""
    params: Mapping[str, tuple[Binding, ...]] = attrs.field(repr=False)
    """Each parameter's arguments: variable names to look up, or constants."""
    outputs: tuple[Output, ...]
    """The outputs, with their declared dtypes and shapes."""
    kernel: Kernel = attrs.field(eq=False, repr=False)
    """The computation."""
    derived: frozenset[str] = frozenset()
    """The outputs computed from the program's inputs (checked for the batch axis)."""
    release: tuple[str, ...] = ()
    """Variables nothing reads after this step, dropped to free memory."""
    context: OpContext | None = attrs.field(default=None, eq=False, repr=False)
    """The operation as its kernel builder saw it (what another executor translates)."""


@attrs.frozen
class Built:
    """A program's main block, read."""

    steps: tuple[Step, ...]
    """The operations that compute the outputs, in order."""
    constants: Mapping[str, np.ndarray] = attrs.field(repr=False)
    """Constant variables (``const``, ``constexpr_*`` and folded operations)."""
    batch_reason: str | None
    """Why the program cannot take a batch along axis 0 in one pass (None: it can)."""


@attrs.frozen
class Interface:
    """A program's function to run: its block, its inputs and how a batch stands in them."""

    block: Any = attrs.field(repr=False)
    """The function's ``Block`` message."""
    inputs: Mapping[str, tuple[np.dtype, tuple[int | None, ...]]]
    """Each input's declared dtype and shape, in the function's order."""
    layout: str
    """``"native"``: a flexible leading axis; ``"one"``: a declared leading 1; ``"stack"``: neither."""


def interface(model: Any) -> Interface:
    """Read the function ``model.function_name`` runs: its block, inputs and batch layout.

    Raises:
        InvalidModelError: A function the program lacks, or a non-tensor input.
    """
    function = _function(model.program, model.function_name)
    inputs: dict[str, tuple[np.dtype, tuple[int | None, ...]]] = {}
    for named in function.inputs:
        dtype = tensor_dtype(named.type)
        if dtype is None:
            msg = f"input '{named.name}': the runtime takes tensor inputs only"
            raise InvalidModelError(msg)
        inputs[named.name] = (dtype, declared_shape(named.type) or ())
    leading = {shape[0] if shape else -1 for _, shape in inputs.values()}
    layout = "native" if leading == {None} else "one" if leading == {1} else "stack"
    return Interface(_block(function), inputs, layout)


def _function(program: Any, name: str) -> Any:
    if name not in program.functions:
        msg = f"the program has no function '{name}' (it has {sorted(program.functions)})"
        raise InvalidModelError(msg)
    return program.functions[name]


def _block(function: Any) -> Any:
    blocks = function.block_specializations
    if function.opset in blocks:
        return blocks[function.opset]
    if len(blocks) == 1:
        return next(iter(blocks.values()))
    msg = f"the function has no block for its opset '{function.opset}' (it has {sorted(blocks)})"
    raise InvalidModelError(msg)


def declared_shape(value_type: Any) -> _Shape:
    """A tensor type's shape, None for a dimension of unknown size; None for a non-tensor type."""
    if value_type.WhichOneof("type") != "tensorType":
        return None
    return tuple(
        int(d.constant.size) if d.WhichOneof("dimension") == "constant" else None
        for d in value_type.tensorType.dimensions
    )


def tensor_dtype(value_type: Any) -> np.dtype | None:
    """A tensor type's element dtype (None for lists, dictionaries and other non-tensor types)."""
    if value_type.WhichOneof("type") != "tensorType":
        return None
    return dtype_of(value_type.tensorType.dataType)


def compute_dtype(dtype: np.dtype | None) -> np.dtype | None:
    """The dtype the executor keeps a tensor of declared ``dtype`` in: float32 for every float."""
    if dtype is None or dtype.kind != "f":
        return dtype
    return np.dtype(np.float32)


def caster(dtype: np.dtype | None, round_fp16: bool) -> Callable[[Any], Any]:
    """A function bringing a kernel's result to the executor's form of a declared ``dtype``."""
    if dtype is None or dtype.kind in "USO":
        return lambda value: value
    if dtype == np.float16 and round_fp16:
        return lambda value: np.asarray(value, dtype=np.float32).astype(np.float16).astype(np.float32)
    target = compute_dtype(dtype)
    return lambda value: np.asarray(value).astype(target, copy=False)


def _outputs(op: Any) -> tuple[Output, ...]:
    return tuple(Output(out.name, tensor_dtype(out.type), declared_shape(out.type)) for out in op.outputs)


def _unsupported(name: str, op_type: str) -> UnsupportedLayerError:
    known = ", ".join(sorted(KERNELS))
    msg = f"operation '{name}' ({op_type}): the reference runtime cannot run this operation type (it runs {known})"
    return UnsupportedLayerError(msg)


def build(
    block: Any, model: Any, inputs: Mapping[str, _Shape], round_fp16: bool, batch: bool, keep: set[str]
) -> Built:
    """Read a block: constants, steps with kernels, releases, and whether a batch runs in one pass.

    Args:
        block: The function's ``Block`` message.
        model: Gives ``const_value(op)``.
        inputs: The function's input names and declared shapes.
        round_fp16: Round results the program declares as fp16 (the program's own precision).
        batch: Whether the inputs are declared with a leading 1 that a batch may stand for.
        keep: The function's outputs (never folded into the operation that produces them).
    """
    constants: dict[str, np.ndarray] = {}
    shapes: dict[str, _Shape] = dict(inputs)
    derived = set(inputs)
    pending: list[tuple[OpContext, dict[str, tuple[Binding, ...]]]] = []
    reason = None if batch else "its inputs are not declared with a leading 1"
    for op in block.operations:
        name = op_name(op)
        where = f"operation '{name}' ({op.type})"
        if is_constant_op(op.type):
            value = np.asarray(model.const_value(op))
            constants[op.outputs[0].name] = value.astype(compute_dtype(value.dtype), copy=False)
            continue
        if op.type not in KERNELS or len(op.blocks):
            raise _unsupported(name, op.type)
        params, consts, variables = _bindings(op, constants, shapes, where)
        outputs = _outputs(op)
        input_shapes = {p: shapes.get(b[0]) for p, b in variables.items() if b[0] is not None}
        ctx = OpContext(name, op.type, consts, variables, outputs, input_shapes, False, op)
        if not variables and op.type != "classify":
            _fold(ctx, params, constants, round_fp16)
            continue
        reads = {p: [shapes.get(b) for b in bound if b is not None] for p, bound in variables.items()}
        reads = {p: s for p, s in reads.items() if any(b in derived for b in variables[p] if b is not None)}
        if reads:
            derived.update(out.name for out in outputs)
            if reason is None:
                why = batch_safe(ctx, reads)
                reason = None if why is None else f"{where}: {why}"
        shapes.update((out.name, out.shape) for out in outputs)
        pending.append((ctx, params))
    steps = []
    for ctx, params in fold_activations(pending, keep):
        reads_derived = any(b in derived for bound in ctx.variables.values() for b in bound if b is not None)
        ctx = attrs.evolve(ctx, batched=reason is None and reads_derived)
        kernel = _kernel(ctx)
        outs = frozenset(o.name for o in ctx.outputs if o.name in derived)
        steps.append(Step(ctx.name, ctx.type, params, ctx.outputs, kernel, outs, context=ctx))
    return Built(tuple(steps), constants, reason)


def _bindings(
    op: Any, constants: Mapping[str, np.ndarray], shapes: Mapping[str, _Shape], where: str
) -> tuple[dict[str, tuple[Binding, ...]], dict[str, tuple[np.ndarray, ...]], dict[str, tuple[str | None, ...]]]:
    """Each parameter's arguments, the all-constant parameters, and those with a variable."""
    params: dict[str, tuple[Binding, ...]] = {}
    for param, argument in op.inputs.items():
        bound: list[Binding] = []
        for binding in argument.arguments:
            if binding.WhichOneof("binding") == "name":
                if binding.name in constants:
                    bound.append(constants[binding.name])
                elif binding.name in shapes:
                    bound.append(binding.name)
                else:
                    msg = f"{where} reads '{binding.name}', which no input or earlier operation defines"
                    raise InvalidModelError(msg)
            else:
                try:
                    value = tensor_value(binding.value, None)
                except UnsupportedModelError:
                    continue  # a list immediate (classify's classes): its builder reads the message
                bound.append(value.astype(compute_dtype(value.dtype), copy=False))
        if bound:
            params[param] = tuple(bound)
    consts = {p: b for p, b in params.items() if all(isinstance(v, np.ndarray) for v in b)}
    variables = {
        p: tuple(v if isinstance(v, str) else None for v in b) for p, b in params.items() if p not in consts
    }
    return params, consts, variables  # type: ignore[return-value]


def _kernel(ctx: OpContext) -> Kernel:
    with unexpected_as_internal(f"operation '{ctx.name}' ({ctx.type}): building its kernel failed"):
        return KERNELS[ctx.type](ctx)


def _fold(
    ctx: OpContext, params: Mapping[str, tuple[Binding, ...]], constants: dict[str, np.ndarray], round_fp16: bool
) -> None:
    """Compute an operation whose inputs are all constant, once."""
    kernel = _kernel(ctx)
    args = {p: [np.asarray(v) for v in bound] for p, bound in params.items()}
    with unexpected_as_internal(f"operation '{ctx.name}' ({ctx.type}) failed on its constants"):
        results = kernel(args)
    for out, value in zip(ctx.outputs, results, strict=True):
        constants[out.name] = caster(out.dtype, round_fp16)(value)


def releases(steps: tuple[Step, ...], keep: set[str]) -> tuple[Step, ...]:
    """The steps the outputs need, each listing the variables to drop after it runs."""
    needed, kept = set(keep), []
    for step in reversed(steps):
        if needed.intersection(o.name for o in step.outputs):
            kept.append(step)
            needed.update(b for bound in step.params.values() for b in bound if isinstance(b, str))
    kept.reverse()
    last: dict[str, int] = {}
    for index, step in enumerate(kept):
        for bound in step.params.values():
            for b in bound:
                if isinstance(b, str):
                    last[b] = index
    out = []
    for index, step in enumerate(kept):
        reads = [b for bound in step.params.values() for b in bound if isinstance(b, str)]
        release = [n for n in reads if last[n] == index and n not in keep]
        release += [o.name for o in step.outputs if o.name not in last and o.name not in keep]
        out.append(attrs.evolve(step, release=tuple(dict.fromkeys(release))))
    return tuple(out)

