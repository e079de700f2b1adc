"""One MIL operation as a translator sees it: its arguments as ONNX values, and helpers to emit nodes.

A translator takes an :class:`Op` and returns the ONNX names of the operation's results, one per
output, each already in the dtype the executor keeps the declared dtype in (float32 for every
float, int32, bool). The caller rounds fp16 results and names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ...mlprogram._build import Step, compute_dtype
from ...mlprogram._context import OpContext, normalize_axes
from .._graph import Graph

#: ONNX's "to the end" for Slice ends.
END = np.iinfo(np.int64).max


class Unbatchable(Exception):
    """An operation that would move the batch off axis 0 (the program is translated for one item)."""


class Op:
    """One operation of the program being translated.

    Args:
        graph: The graph being built.
        step: The operation, read by the reference runtime's build.
        env: MIL variable name -> (ONNX value name, dtype the value has in the graph).
        batch: Gives a one-element int64 value holding the batch size (built when first asked).
    """

    def __init__(
        self, graph: Graph, step: Step, env: Mapping[str, tuple[str, np.dtype]], batch: Callable[[], str]
    ) -> None:
        assert step.context is not None
        self.g = graph
        self.step = step
        self.ctx: OpContext = step.context
        self._env = env
        self._batch = batch

    @property
    def type(self) -> str:
        """The operation type."""
        return self.ctx.type

    def has(self, param: str) -> bool:
        """Whether the operation binds ``param``."""
        return param in self.step.params

    def count(self, param: str) -> int:
        """How many arguments ``param`` has."""
        return len(self.step.params.get(param, ()))

    def value(self, param: str, index: int = 0, dtype: Any = None) -> str:
        """The ONNX value of one argument (cast to ``dtype`` when given and different)."""
        binding = self.step.params[param][index]
        if not isinstance(binding, str):
            array = np.asarray(binding)
            return self.g.constant(array.astype(_kept(array.dtype) if dtype is None else dtype, copy=False))
        name, have = self._env[binding]
        if dtype is not None and np.dtype(dtype) != have:
            return self.cast(name, dtype)
        return name

    def values(self, param: str, dtype: Any = None) -> list[str]:
        """The ONNX values of every argument of ``param``."""
        return [self.value(param, i, dtype) for i in range(self.count(param))]

    def dtype(self, param: str, index: int = 0) -> np.dtype:
        """The graph dtype of one argument."""
        binding = self.step.params[param][index]
        if isinstance(binding, str):
            return self._env[binding][1]
        return _kept(np.asarray(binding).dtype)

    def is_variable(self, param: str, index: int = 0) -> bool:
        """Whether an argument is computed at run time."""
        return isinstance(self.step.params[param][index], str)

    def shape(self, param: str = "x") -> tuple[int | None, ...] | None:
        """The declared shape of a single-argument parameter (axis 0 is the batch in a batched run)."""
        binding = self.step.params[param][0]
        if not isinstance(binding, str):
            return tuple(np.shape(binding))
        return self.ctx.input_shapes.get(param)

    def rank(self, param: str = "x") -> int:
        """The declared rank of a parameter.

        Raises:
            UnsupportedLayerError: The rank is unknown.
        """
        shape = self.shape(param)
        if shape is None:
            raise self.ctx.unsupported(f"'{param}' of unknown rank (the ONNX translation needs it)")
        return len(shape)

    def sizes(self, param: str = "x", axes: Sequence[int] = (-2, -1)) -> tuple[int, ...]:
        """Declared sizes of some axes of a parameter.

        Raises:
            UnsupportedLayerError: A size is unknown.
        """
        shape = self.shape(param) or ()
        rank = self.rank(param)
        sizes = [shape[a] for a in normalize_axes(axes, rank)]
        if any(s is None for s in sizes):
            raise self.ctx.unsupported(f"'{param}' of unknown size {shape} (the ONNX translation needs it)")
        return tuple(int(s) for s in sizes)  # type: ignore[arg-type]

    def out_dtype(self, index: int = 0) -> np.dtype:
        """The graph dtype of an output (float32 for a declared float)."""
        declared = self.ctx.outputs[index].dtype
        return np.dtype(np.float32) if declared is None else np.dtype(compute_dtype(declared))

    # Emitting nodes.

    def one(self, op: str, inputs: Sequence[str], **attributes: Any) -> str:
        """Append one single-output ONNX operator."""
        return self.g.one(op, inputs, **attributes)

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        """An initializer."""
        return self.g.constant(value, dtype)

    def ints(self, values: Any) -> str:
        """An int64 vector initializer (axes, shapes, pads)."""
        return self.g.constant(np.asarray(list(values), dtype=np.int64).reshape(-1), np.int64)

    def cast(self, name: str, dtype: Any) -> str:
        """Cast a value to a numpy dtype."""
        from .._graph import element_type

        return self.one("Cast", [name], to=element_type(dtype))

    def batch(self) -> str:
        """A one-element int64 value: the batch size of this run."""
        return self._batch()

    def unbatchable(self, why: str) -> Unbatchable:
        """The exception a translator raises when its result would not keep the batch on axis 0."""
        return Unbatchable(f"operation '{self.ctx.name}' ({self.type}): {why}")

    def with_batch(self, rest: Sequence[int]) -> str:
        """An int64 shape ``[batch, *rest]``."""
        return self.one("Concat", [self.batch(), self.ints(rest)], axis=0)


def _kept(dtype: np.dtype) -> np.dtype:
    """The dtype a constant of ``dtype`` has in the graph (float32 for every float)."""
    return np.dtype(np.float32) if dtype.kind == "f" else np.dtype(dtype)
