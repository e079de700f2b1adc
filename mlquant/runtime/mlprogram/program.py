"""The executor: an ML Program's main function as numpy kernels, run in operation order."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from ...errors import DataError, InvalidModelError, MlquantError, SettingsError
from .._failures import as_internal
from .._feeds import check_feeds, check_item_shape
from .._kernels.parallel import map_chunks, workers
from .._observing import Observer
from ._build import EXACT, Built, Step, build, caster, compute_dtype, interface, releases
from .observe import Unfolder, unfolders, watched

__all__ = ["MILProgram"]

#: Feed bytes per chunk: a batch runs through the whole program a few items at a time, so each
#: operation's output is still in cache when the next one reads it (and in at least as many
#: chunks as there are worker threads).
_CHUNK_BYTES = 1 << 20

Precision = Literal["program", "float32"]



class _NotBatchable(Exception):
    """A result whose shape shows the batch did not stay on axis 0 (the run goes item by item)."""


class MILProgram:
    """A numpy executor of an ML Program: the MIL operations of its main function, on any platform.

    Construction reads every operation once and builds one kernel per operation, so a program the
    runtime cannot run fails here, before any input is processed. Constants come from
    ``model.const_value(op)``, so a compressed model (``constexpr_*`` weights) runs with the
    values Core ML decompresses.

    Args:
        model: Exposes ``program`` (the MIL ``Program`` message), ``function_name`` (the function
            to run) and ``const_value(op)`` (the value of a ``const`` or ``constexpr_*`` operation).
        precision: ``"program"`` follows the program's dtypes: every fp16 result is rounded to
            fp16 (computed in float32), as Core ML computes an fp16 program; ``"float32"`` computes
            and keeps everything in float32.

    Raises:
        UnsupportedLayerError: An operation type the runtime cannot execute (control flow, states,
            recurrent layers...) or parameters it does not take; the message names the operation.
        InvalidModelError: A function the program lacks, or an operation reading an undefined variable.
        SettingsError: An unknown precision.
    """

    def __init__(self, model: Any, precision: Precision = "program") -> None:
        if precision not in ("program", "float32"):
            msg = f"MILProgram: precision must be 'program' or 'float32' (got {precision!r})"
            raise SettingsError(msg)
        self.precision = precision
        read = interface(model)
        block = read.block
        self._inputs: dict[str, tuple[np.dtype, tuple[int | None, ...]]] = dict(read.inputs)
        #: "native": a flexible leading axis; "one": a declared leading 1; "stack": neither.
        self._layout = read.layout
        round_fp16 = precision == "program"
        shapes = {name: shape for name, (_, shape) in self._inputs.items()}
        self._outputs = tuple(block.outputs)
        built: Built = build(block, model, shapes, round_fp16, self._layout == "one", set(self._outputs))
        self._steps: tuple[Step, ...] = releases(built.steps, set(self._outputs))
        self._constants = built.constants
        self._casters = [
            [caster(out.dtype, round_fp16 and step.type not in EXACT) for out in step.outputs] for step in self._steps
        ]
        self._feed_casters = {name: caster(dtype, round_fp16) for name, (dtype, _) in self._inputs.items()}
        self.batch_reason = built.batch_reason if self._layout == "one" else None
        self._batched = self._layout == "native" or (self._layout == "one" and self.batch_reason is None)
        #: Whether a batch has run through in one pass (checked once before :meth:`observe`).
        self._proven = False
        #: Whether chunks run on several threads (not while observing: see :meth:`observe`).
        self._threads = True
        declared = {o.name: (s.type, o.shape) for s in self._steps for o in s.outputs}
        #: Outputs whose items are stacked on a new axis when the program runs item by item
        #: (those not declared with a leading 1 that the items' results join along).
        self._stacked = frozenset(
            name
            for name in self._outputs
            if name in declared and declared[name][0] != "classify" and (declared[name][1] or (0,))[0] != 1
        )
        produced = set(self._constants) | {o.name for s in self._steps for o in s.outputs} | set(self._inputs)
        missing = [name for name in self._outputs if name not in produced]
        if missing:
            msg = f"function '{model.function_name}': outputs {missing} are never computed"
            raise InvalidModelError(msg)

    def __repr__(self) -> str:
        mode = "batched" if self._batched else "item by item"
        return (
            f"<MILProgram {len(self._steps)} operations, {self.precision}, {mode}, "
            f"inputs {list(self.input_names)}, outputs {list(self.output_names)}>"
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names :meth:`run` expects in its feeds, in the function's order."""
        return tuple(self._inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the results :meth:`run` returns, in the function's order."""
        return self._outputs

    @property
    def batched(self) -> bool:
        """Whether a batch runs through the program along axis 0 (else item by item)."""
        return self._batched

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the program on a batch.

        Args:
            feeds: One batch-first array per input. An input declared with a leading 1 (or a
                flexible leading axis) takes ``(B, *declared[1:])``: the batch stands in that
                axis (image inputs: raw pixel values in the declared channel order; the program
                holds the preprocessing). Any other input takes ``(B, *declared)``.

        Returns:
            One array per name in :attr:`output_names`, batch first: float tensors as float32
            (holding fp16 values where the program declares fp16), a ``classify`` operation's
            probabilities as ``(B, classes)`` in label order and its labels as ``(B,)`` strings.

        Raises:
            DataError: Feeds missing, unknown, of the wrong shape, or of different batch sizes.
        """
        checked = self._check(feeds)
        batch = next(iter(checked.values())).shape[0]
        if self._batched:
            per_item = sum(x[0].nbytes for x in checked.values())
            size = max(1, min(-(-batch // workers()), _CHUNK_BYTES // max(1, per_item)))
            try:
                return self._run_chunks(checked, batch, size)
            except _NotBatchable as error:
                self.batch_reason = str(error)
                self._batched = False
        return self._run_chunks(checked, batch, 1)

    @property
    def observed(self) -> dict[str, Unfolder]:
        """The weight operations :meth:`observe` reports, by name, with their groups and depth."""
        return unfolders(self._steps)

    def observe(self, feeds: Mapping[str, np.ndarray], observer: Observer) -> dict[str, np.ndarray]:
        """Run the program like :meth:`run`, handing each weight operation's input to ``observer`` first.

        For every operation in :attr:`observed` (``conv`` and ``linear`` with constant weights,
        ``matmul`` with a constant transposed ``y``), ``observer`` gets the operation's name and its
        input unfolded into the rows its weight matrix meets, float32 ``(groups, rows, depth)`` in
        the weight's column order (see :mod:`.observe`), as this executor computes it (use
        ``precision="float32"`` for the float model's own values). It is called from one thread,
        chunk after chunk in batch order, so what it accumulates does not depend on timing; it
        must not keep the array.

        Returns:
            What :meth:`run` returns.
        """
        checked = self._check(feeds)
        batch = next(iter(checked.values())).shape[0]
        if self._batched and self._layout == "one" and batch > 1 and not self._proven:
            # Two items in one pass first: a program that cannot take a batch falls back to item
            # by item now, not halfway through the observed run (which would show inputs twice).
            try:
                self._run_chunks({n: x[:2] for n, x in checked.items()}, 2, 2)
                self._proven = True
            except _NotBatchable as error:
                self.batch_reason = str(error)
                self._batched = False
        watching = copy.copy(self)
        watching._steps = watched(self._steps, unfolders(self._steps), observer)
        watching._threads = False
        try:
            return watching.run(checked)
        finally:
            self._batched, self.batch_reason = watching._batched, watching.batch_reason

    def _run_chunks(self, checked: dict[str, np.ndarray], batch: int, size: int) -> dict[str, np.ndarray]:
        chunks = [{n: x[i : i + size] for n, x in checked.items()} for i in range(0, batch, size)]
        stack = self._layout == "stack"
        if stack:
            chunks = [{n: x[0] for n, x in chunk.items()} for chunk in chunks]
        parts = map_chunks(self._execute, chunks, threads=self._threads)
        if stack or (size == 1 and not self._batched):
            stacked = self._outputs if stack else self._stacked
            return {
                n: np.stack([p[n] for p in parts]) if n in stacked else np.concatenate([p[n] for p in parts])
                for n in self._outputs
            }
        if len(parts) == 1:
            return parts[0]
        return {n: np.concatenate([part[n] for part in parts]) for n in self._outputs}

    def _execute(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run every step on one chunk of checked feeds."""
        env: dict[str, Any] = {name: self._feed_casters[name](x) for name, x in feeds.items()}
        items = next(iter(feeds.values())).shape[0] if self._layout != "stack" else 1
        check = self._batched and self._layout == "one" and items > 1
        for step, casters in zip(self._steps, self._casters, strict=True):
            args = {p: [env[b] if isinstance(b, str) else b for b in bound] for p, bound in step.params.items()}
            try:
                results = step.kernel(args)
            except MlquantError:
                raise
            except Exception as error:  # a kernel bug: say which step, keep the cause
                raise as_internal(error, _failed_on(step, args)) from error
            for out, value, cast in zip(step.outputs, results, casters, strict=True):
                value = cast(value)
                if check and out.name in step.derived:
                    _check_batch(step, out.name, out.shape, value, items)
                env[out.name] = value
            for name in step.release:
                del env[name]
        return {name: self._result(env, name, items) for name in self._outputs}

    def _result(self, env: Mapping[str, Any], name: str, items: int) -> np.ndarray:
        if name in env:
            return env[name]
        value = self._constants[name]  # an output that does not depend on the inputs
        return np.repeat(value, items, axis=0) if value.ndim and value.shape[0] == 1 else value

    def _check(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return check_feeds(feeds, self.input_names, self._check_one)

    def _check_one(self, name: str, feed: Any) -> np.ndarray:
        dtype, shape = self._inputs[name]
        try:
            x = np.asarray(feed, dtype=compute_dtype(dtype))
        except (TypeError, ValueError) as error:
            msg = f"input '{name}': expected a {dtype} array (got {type(feed).__name__}: {error})"
            raise DataError(msg) from None
        return check_item_shape(name, x, tuple(shape) if self._layout == "stack" else tuple(shape[1:]))


def _check_batch(step: Step, name: str, declared: Any, value: Any, items: int) -> None:
    shape = np.shape(value)
    if declared is None or len(shape) != len(declared):
        return
    if shape[0] != items or any(d is not None and d != s for d, s in zip(declared[1:], shape[1:], strict=True)):
        msg = (
            f"operation '{step.name}' ({step.type}) gave '{name}' the shape {shape} for {items} items "
            f"(declared {tuple(declared)})"
        )
        raise _NotBatchable(msg)


def _failed_on(step: Step, args: Mapping[str, list[Any]]) -> str:
    """How an unexpected failure of ``step`` on ``args`` is described."""
    shapes = ", ".join(f"{p}={[np.shape(a) for a in v]}" for p, v in args.items() if p in step.params)
    return f"operation '{step.name}' ({step.type}) failed on inputs {shapes}"
