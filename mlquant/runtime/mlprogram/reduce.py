"""Reductions: ``reduce_mean``, ``reduce_sum``, ``reduce_max``... over ``axes`` (all when absent),
and ``reduce_argmax``/``reduce_argmin`` along one ``axis``; ``keep_dims`` keeps reduced axes as 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, normalize_axes, one

_Reduce = Callable[[np.ndarray, tuple[int, ...], bool], np.ndarray]

REDUCTIONS: dict[str, _Reduce] = {
    "reduce_mean": lambda x, a, k: x.mean(axis=a, keepdims=k, dtype=np.float32),
    "reduce_sum": lambda x, a, k: x.sum(axis=a, keepdims=k),
    "reduce_max": lambda x, a, k: x.max(axis=a, keepdims=k),
    "reduce_min": lambda x, a, k: x.min(axis=a, keepdims=k),
    "reduce_prod": lambda x, a, k: x.prod(axis=a, keepdims=k),
    "reduce_l1_norm": lambda x, a, k: np.abs(x).sum(axis=a, keepdims=k),
    "reduce_l2_norm": lambda x, a, k: np.sqrt(np.square(x).sum(axis=a, keepdims=k)),
    "reduce_log_sum": lambda x, a, k: np.log(x.sum(axis=a, keepdims=k)),
    "reduce_log_sum_exp": lambda x, a, k: _log_sum_exp(x, a, k),
    "reduce_sum_square": lambda x, a, k: np.square(x).sum(axis=a, keepdims=k),
}


#: The index reductions: operation type -> numpy function (int32 indices, first of equal values).
ARG_REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {"reduce_argmax": np.argmax, "reduce_argmin": np.argmin}


def _log_sum_exp(x: np.ndarray, axes: tuple[int, ...], keep: bool) -> np.ndarray:
    top = x.max(axis=axes, keepdims=True)
    out = np.log(np.exp(x - top).sum(axis=axes, keepdims=True)) + top
    return out if keep else out.squeeze(axis=axes)


def build_reduce(ctx: OpContext) -> Kernel:
    """Build a ``reduce_*`` kernel (not argmax/argmin)."""
    fn = REDUCTIONS[ctx.type]
    axes = ctx.ints("axes", None)
    keep = bool(ctx.scalar("keep_dims", False))

    def reduce(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        chosen = normalize_axes(axes, x.ndim) if axes is not None else tuple(range(x.ndim))
        return [np.asarray(fn(x, chosen, keep))]

    return reduce


def build_arg_reduce(ctx: OpContext) -> Kernel:
    """Build ``reduce_argmax`` or ``reduce_argmin`` (int32 indices)."""
    fn = ARG_REDUCTIONS[ctx.type]
    axis = int(ctx.scalar("axis", -1))
    keep = bool(ctx.scalar("keep_dims", False))

    def arg_reduce(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        (a,) = normalize_axes((axis,), x.ndim)
        out = fn(x, axis=a)
        return [np.expand_dims(out, a).astype(np.int32) if keep else out.astype(np.int32)]

    return arg_reduce
