"""ML Programs for the runtime's tests: built with coremltools' MIL Builder, converted and saved.

:func:`convert` turns a MIL program into a saved ``.mlpackage`` through ``ct.convert`` (the same
passes a converted PyTorch model goes through) and loads it back with :func:`mlquant.load`, whose
``MLProgramModel`` gives :class:`mlquant.runtime.MILProgram` what it needs: ``program``,
``function_name`` and ``const_value(op)``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_counter = itertools.count()

#: The executor :func:`program` and :func:`run` use: ``"reference"`` (:class:`mlquant.runtime.MILProgram`)
#: or ``"onnx"`` (:class:`mlquant.runtime.onnx.OnnxProgram`); ``tests/conftest.py`` runs every
#: ``test_mlruntime_*`` test with each.
ENGINE = "reference"


def program(model: Any, precision: str = "program") -> Any:
    """The current engine's executor of a model (``precision`` as MILProgram names it)."""
    if ENGINE == "onnx":
        from mlquant.runtime.onnx import OnnxProgram

        return OnnxProgram(model, precision="model" if precision == "program" else precision)  # type: ignore[arg-type]
    from mlquant.runtime import MILProgram

    return MILProgram(model, precision=precision)  # type: ignore[arg-type]


def op_types(model: Any) -> list[str]:
    """The operation types of a model's main function, in order."""
    function = model.program.functions[model.function_name]
    return [op.type for op in function.block_specializations[function.opset].operations]


def convert(
    program: Any,
    folder: Path,
    *,
    precision: str = "float32",
    target: Any = None,
    **options: Any,
) -> Any:
    """Convert a MIL program with ``ct.convert`` and save it under ``folder``.

    Args:
        program: A ``coremltools`` MIL ``Program`` (``@mb.program``).
        folder: Where to save the ``.mlpackage``.
        precision: ``"float32"`` or ``"float16"`` compute precision.
        target: The minimum deployment target (default iOS16).
        options: More ``ct.convert`` arguments (``inputs``, ``classifier_config``...).
    """
    import coremltools as ct

    target = target or ct.target.iOS16
    compute = ct.precision.FLOAT32 if precision == "float32" else ct.precision.FLOAT16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlmodel = ct.convert(
            program,
            convert_to="mlprogram",
            compute_precision=compute,
            minimum_deployment_target=target,
            **options,
        )
    path = folder / f"program{next(_counter)}.mlpackage"
    mlmodel.save(str(path))
    import mlquant

    return mlquant.load(path)


def one_op(
    folder: Path,
    make: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    *,
    target: Any = None,
) -> Any:
    """A float32 program of one operation, saved without graph passes (so the op stays as built):
    ``make(mb, *input_vars)`` returns its output(s)."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    import mlquant

    target = target or ct.target.iOS16
    specs = [mb.TensorSpec(shape=x.shape, dtype=_mil_dtype(x)) for x in inputs]
    program = _program(specs, target, lambda *xs: make(mb, *xs))
    key = _fingerprint(program, target)
    if key in _converted:
        from coremltools.converters.mil.converter import _reset_conversion_state

        _reset_conversion_state()  # the op names restart from 0, as after the conversion it stands for
    else:
        _converted[key] = convert(program, folder, target=target, pass_pipeline=ct.PassPipeline.EMPTY).path
    return mlquant.load(_converted[key])


#: The packages :func:`one_op` saved, by :func:`_fingerprint` of their program: a test runs once per
#: engine (``tests/conftest.py``), and its second run loads the package its first run converted.
_converted: dict[str, Path] = {}


def _fingerprint(program: Any, target: Any) -> str:
    """A digest of everything a MIL program holds: its text (operations, types, inputs, names; not the names of
    its blocks, which are not saved), the value of every constant (which the text leaves out) and the
    deployment target."""
    import hashlib
    import re

    text = re.sub(r"\bblock\d+\b", "block", str(program))  # block names count up over the session
    digest = hashlib.sha256(f"{target}\n{text}".encode())

    def constants(block: Any) -> None:
        for op in block.operations:
            for output in op.outputs:
                if output.val is not None:
                    value = np.asarray(output.val)
                    digest.update(f"{op.name}:{value.dtype}:{value.shape}".encode() + value.tobytes())
            for inner in op.blocks:
                constants(inner)

    for function in program.functions.values():
        constants(function)
    return digest.hexdigest()


def _program(specs: Sequence[Any], target: Any, body: Callable[..., Any]) -> Any:
    """``@mb.program`` over ``body``, which takes one variable per input spec (the Builder reads
    the wrapped function's parameter names, so each arity has its own function)."""
    from coremltools.converters.mil import Builder as mb

    def one(x0: Any) -> Any:
        return body(x0)

    def two(x0: Any, x1: Any) -> Any:
        return body(x0, x1)

    def three(x0: Any, x1: Any, x2: Any) -> Any:
        return body(x0, x1, x2)

    function = {1: one, 2: two, 3: three}[len(specs)]
    return mb.program(input_specs=list(specs), opset_version=target)(function)


def _mil_dtype(x: np.ndarray) -> Any:
    from coremltools.converters.mil.mil import types

    if x.dtype == np.int32:
        return types.int32
    if x.dtype == np.bool_:
        return types.bool
    return types.fp32


def run(model: Any, inputs: Sequence[np.ndarray], precision: str = "float32") -> list[np.ndarray]:
    """Run a converted program once in the current :data:`ENGINE`, feeds in input order, outputs in output order.

    Inputs with a leading 1 go in as they are (that 1 is the batch); otherwise each is fed as a
    batch of one item. Outputs that came back with an extra batch axis (stacked items) lose it again.
    """
    runner = program(model, precision)
    leading_one = all(x.ndim and x.shape[0] == 1 for x in inputs)
    feeds = {n: x if leading_one else x[np.newaxis] for n, x in zip(runner.input_names, inputs, strict=True)}
    outputs = runner.run(feeds)
    ranks = _declared_ranks(model)
    results = []
    for name in runner.output_names:
        value = outputs[name]
        stacked = not leading_one or (name in ranks and value.ndim == ranks[name] + 1)
        results.append(value[0] if stacked else value)
    return results


def _declared_ranks(model: Any) -> dict[str, int]:
    """The declared rank of every tensor operation output of the main function."""
    function = model.program.functions[model.function_name]
    ranks = {}
    for op in function.block_specializations[function.opset].operations:
        for out in op.outputs:
            if out.type.WhichOneof("type") == "tensorType":
                ranks[out.name] = len(out.type.tensorType.dimensions)
    return ranks
