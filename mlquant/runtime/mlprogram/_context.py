"""What every kernel module shares: an operation as a kernel builder sees it, and the kernel type.

A kernel builder takes an :class:`OpContext` (one MIL operation, its constant parameters already
read, the names of its runtime inputs, its outputs' declared dtypes and shapes) and returns a
:data:`Kernel`: a function from the operation's parameters (``{name: [arrays]}``, one array per
argument, constants included) to its output arrays. Tensors are float32 while they hold
floating-point values (the executor rounds those the program declares as fp16), int32 or bool
otherwise, in the program's own layout (``(N, C, H, W)`` for images).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidModelError, UnsupportedLayerError

#: An operation's parameters in (``{param: [one array per argument]}``), its outputs out.
Kernel = Callable[[Mapping[str, Sequence[np.ndarray]]], list[np.ndarray]]

#: One argument of an operation: a variable's name, or a constant array.
Binding = str | np.ndarray

_REQUIRED: Any = object()


@attrs.frozen
class Output:
    """One output of an operation, as the program declares it."""

    name: str
    """The output variable's name."""
    dtype: np.dtype | None
    """Its element type (None for a non-tensor output such as ``classify``'s dictionary)."""
    shape: tuple[int | None, ...] | None
    """Its declared shape, None for an unknown dimension (or for a non-tensor output)."""


@attrs.frozen
class OpContext:
    """One operation of a program, as a kernel builder sees it."""

    name: str
    """The operation's name (its ``name`` attribute, else its first output's name)."""
    type: str
    """The operation type (``conv``, ``add``...)."""
    constants: Mapping[str, tuple[np.ndarray, ...]] = attrs.field(repr=False)
    """Parameters bound only to constants, one array per argument."""
    variables: Mapping[str, tuple[str | None, ...]]
    """Parameters with an argument computed at run time: per argument its variable's name,
    or None where that argument is a constant (the executor passes every argument)."""
    outputs: tuple[Output, ...]
    """The operation's outputs."""
    input_shapes: Mapping[str, tuple[int | None, ...] | None] = attrs.field(factory=dict, repr=False)
    """Declared shapes of single-argument parameters, where known."""
    batched: bool = False
    """Whether the executor runs a whole batch along axis 0 where the program declares 1."""
    proto: Any = attrs.field(default=None, repr=False, eq=False)
    """The ``Operation`` message, for builders reading list immediates (``classify``)."""
    clip: tuple[float, float] | None = None
    """A range to clip the result to: the executor folded the following relu, relu6 or clip in."""

    def has(self, param: str) -> bool:
        """Whether the operation binds ``param``."""
        return param in self.constants or param in self.variables

    def is_constant(self, param: str) -> bool:
        """Whether ``param`` is bound, to constants only."""
        return param in self.constants

    def const(self, param: str, default: Any = _REQUIRED) -> Any:
        """The constant value of a single-argument parameter (``default`` when it is not bound).

        Raises:
            UnsupportedLayerError: The parameter is computed at run time.
            InvalidModelError: A required parameter is missing.
        """
        if param in self.constants:
            return self.constants[param][0]
        if param in self.variables:
            raise self.unsupported(f"'{param}' computed at run time (it must be a constant here)")
        if default is _REQUIRED:
            raise self.invalid(f"the required parameter '{param}' is missing")
        return default

    def ints(self, param: str, default: Any = _REQUIRED) -> tuple[int, ...] | Any:
        """A constant integer vector parameter as a tuple (``default`` when it is not bound)."""
        value = self.const(param, default)
        if value is default and default is not _REQUIRED:
            return default
        return tuple(int(v) for v in np.asarray(value).reshape(-1))

    def scalar(self, param: str, default: Any = _REQUIRED) -> Any:
        """A constant scalar parameter as a Python value (``default`` when it is not bound)."""
        value = self.const(param, default)
        if value is default and default is not _REQUIRED:
            return default
        first = np.asarray(value).reshape(-1)[0]
        return first.item() if isinstance(first, np.generic) else first

    def rank(self, param: str = "x") -> int | None:
        """The declared rank of a parameter, when known."""
        shape = self.input_shapes.get(param)
        if shape is None and param in self.constants:
            return int(np.ndim(self.constants[param][0]))
        return None if shape is None else len(shape)

    def unsupported(self, what: str) -> UnsupportedLayerError:
        """An error naming this operation, for a feature the runtime does not implement."""
        return UnsupportedLayerError(f"operation '{self.name}' ({self.type}): {what}")

    def invalid(self, what: str) -> InvalidModelError:
        """An error naming this operation, for parameters that contradict the op's definition."""
        return InvalidModelError(f"operation '{self.name}' ({self.type}): {what}")


def normalize_axes(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    """Axes with negative values counted from the end."""
    return tuple(int(a) + rank if int(a) < 0 else int(a) for a in axes)


def one(args: Mapping[str, Sequence[np.ndarray]], param: str) -> np.ndarray:
    """The array of a single-argument parameter."""
    return args[param][0]
