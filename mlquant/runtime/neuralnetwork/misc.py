"""Kernels that fit no family: reduce and loadConstant."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._base import Kernel, LayerContext

_AXES = {0: (2, 3, 4), 1: (3, 4), 2: (2,), 3: (3,), 4: (4,)}
_AXIS_NAMES = ("CHW", "HW", "C", "H", "W")
_MODES = ("SUM", "AVG", "PROD", "LOGSUM", "SUMSQUARE", "L1", "L2", "MAX", "MIN", "ARGMAX")


def build_reduce(ctx: LayerContext) -> Kernel:
    """Build a ``reduce`` kernel; reduced axes stay, with size 1.

    ``LOGSUM`` is ``sum(log(x + epsilon))`` (``epsilon`` 1e-6 when 0); ``ARGMAX`` gives the
    index of the first maximum, as a float, and needs a single axis.
    """
    ctx.expect_inputs(1)
    p = ctx.params
    mode, axis_code = int(p.mode), int(p.axis)
    if not 0 <= mode < len(_MODES) or axis_code not in _AXES:
        raise ctx.unsupported(f"reduce mode {mode} over axis {axis_code}")
    axes = _AXES[axis_code]
    name = _MODES[mode]
    if name == "ARGMAX" and len(axes) != 1:
        raise ctx.invalid(f"ARGMAX reduces one axis, not {_AXIS_NAMES[axis_code]}")
    epsilon = np.float32(p.epsilon or 1e-6)
    functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "SUM": lambda x: x.sum(axis=axes, keepdims=True, dtype=np.float32),
        "AVG": lambda x: x.mean(axis=axes, keepdims=True, dtype=np.float32),
        "PROD": lambda x: x.prod(axis=axes, keepdims=True, dtype=np.float32),
        "LOGSUM": lambda x: np.log(x + epsilon).sum(axis=axes, keepdims=True, dtype=np.float32),
        "SUMSQUARE": lambda x: np.square(x).sum(axis=axes, keepdims=True, dtype=np.float32),
        "L1": lambda x: np.abs(x).sum(axis=axes, keepdims=True, dtype=np.float32),
        "L2": lambda x: np.sqrt(np.square(x).sum(axis=axes, keepdims=True, dtype=np.float32)),
        "MAX": lambda x: x.max(axis=axes, keepdims=True),
        "MIN": lambda x: x.min(axis=axes, keepdims=True),
        "ARGMAX": lambda x: x.argmax(axis=axes[0], keepdims=True).astype(np.float32),
    }
    function = functions[name]

    def reduce(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return [function(inputs[0])]

    return reduce


def build_load_constant(ctx: LayerContext) -> Kernel:
    """Build a ``loadConstant`` kernel: the same ``(1, 1, C, H, W)`` array on every run."""
    ctx.expect_inputs(0)
    shape = tuple(int(v) for v in ctx.params.shape)
    if len(shape) != 3:
        raise ctx.invalid(f"shape must be [C, H, W] (got {list(shape)})")
    constant = ctx.weight("data", ctx.params.data, shape).reshape(1, 1, *shape)
    return lambda inputs: [constant]
