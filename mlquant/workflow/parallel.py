"""Evaluating a sweep's candidates on an executor: local processes, threads, or a Dask cluster.

The unit of work is one candidate on one shard of the data (see :mod:`mlquant.evaluate.shards`),
so many workers help even a single candidate. The driver, this module, sends shards out,
fills what comes back into each candidate's evaluation in input order, and alone reads and
writes the cache; the result is the :class:`~mlquant.Evaluation` a serial run gives, byte for
byte, whatever the number of workers and the order in which shards finish.

Stopping early (``fast``) is replayed exactly: the driver asks the same question a serial run
asks after every batch, over the batches finished in order so far, and cancels a candidate's
other shards once it stops. Candidates' shards are all sent at once, smallest candidate first;
the sweep takes results in the serial order and discards what a serial run would not have
computed.

Faults: a shard whose worker died is sent again. A process pool the sweep made itself is
rebuilt when one of its processes dies (``BrokenProcessPool``); on any other executor a failed
shard is tried :data:`RETRIES` more times (Dask also reschedules the tasks of a dead worker
itself), then :class:`~mlquant.WorkerError` is raised. Errors mlquant raises on purpose in a
worker (a layer the backend cannot run) are raised at once.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import attrs

from ..errors import InternalError, MlquantError, SettingsError, WorkerError
from ..evaluate import CachingEvaluator, Evaluation
from ..evaluate.data import Sample, Skipped
from ..evaluate.evaluator import Assembly
from ..evaluate.shards import Scan, Shard, predict_shard, scan_shard, shard_bounds
from ..evaluate.signature import signature
from ..formats import Model

__all__ = ["MAX_SHARDS", "RETRIES", "SHARD_BATCHES", "LocalRuns", "ShardedRuns", "make_runs"]

#: Batches per shard at least: big enough that sending the model is a small part of a task.
SHARD_BATCHES = 4
#: Shards per model at most: larger data gets larger shards, so a model travels at most this often.
MAX_SHARDS = 64
#: How many more times a shard that failed on a worker is sent (per shard).
RETRIES = 2
#: How many times the sweep rebuilds a process pool of its own that broke.
_REBUILDS = 3

Stop = Callable[[Evaluation], bool]


class LocalRuns:
    """Candidates evaluated one after another in this process, when asked for (no executor)."""

    def __init__(self, runner: CachingEvaluator) -> None:
        self.runner = runner
        self._asked: dict[str, tuple[Model, Evaluation | None, Stop | None]] = {}

    def submit(self, name: str, model: Model, *, reference: Evaluation | None = None, stop: Stop | None = None) -> None:
        """Note a model to evaluate (nothing runs until :meth:`result`)."""
        self._asked[name] = (model, reference, stop)

    def result(self, name: str) -> Evaluation:
        """Evaluate the model submitted as ``name`` (or take it from the cache)."""
        model, reference, stop = self._asked[name]
        return self.runner.evaluate(model, name, reference=reference, stop=stop)

    def close(self) -> None:
        """Nothing to release."""


@attrs.define(eq=False)
class _Job:
    """One distinct model's shards, and its evaluation as it fills in."""

    assembly: Assembly
    bounds: list[tuple[int, int]]
    batch_size: int
    stop: Stop | None
    report: Callable[[str, int, int], None]
    arrived: dict[int, Any] = attrs.field(factory=dict)
    filled: int = 0
    final: Evaluation | None = None

    def arrive(self, index: int, value: Any) -> None:
        """Take shard ``index``'s predictions; fill in every shard now complete in order, asking ``stop`` after each batch."""
        self.arrived[index] = value
        total = len(self.assembly.files)
        while self.final is None and self.filled in self.arrived:
            start, end = self.bounds[self.filled]
            self.assembly.fill(start, *self.arrived.pop(self.filled))
            self.filled += 1
            for first in range(start, end, self.batch_size):
                done = min(first + self.batch_size, end)
                self.report(f"evaluating {self.assembly.name}", done, total)
                if self.stop is not None and done < total and self.stop(self.assembly.result(done, complete=False)):
                    self.final = self.assembly.result(done, complete=False)
                    return
        if self.final is None and self.filled == len(self.bounds):
            self.final = self.assembly.result(total, complete=True)


@attrs.define(eq=False)
class _Task:
    """A shard or scan sent to the executor, and what to do with its result."""

    function: Callable[[Any], Any]
    argument: Any
    deliver: Callable[[Any], None]
    job: _Job | None = None
    attempts: int = 0


class ShardedRuns:
    """Candidates evaluated on an executor, shard by shard, all submitted at once.

    Args:
        runner: The sweep's evaluator and cache; only this object reads and writes the cache.
        executor: Any :class:`concurrent.futures.Executor`, or a number of local processes to
            start (a process pool that this object owns, rebuilds if it breaks, and shuts down).
        shard_batches: Batches of the evaluator's size per shard, at least (more when a model's
            shards would otherwise number more than :data:`MAX_SHARDS`).
        retries: Further attempts for a shard that failed on a worker (on a pool it does not own).

    Raises:
        SettingsError: A number of processes below 1, or shards of no batches.
    """

    def __init__(self, runner: CachingEvaluator, executor: Executor | int, *, shard_batches: int = SHARD_BATCHES,
                 retries: int = RETRIES) -> None:
        if isinstance(shard_batches, bool) or not isinstance(shard_batches, int) or shard_batches < 1:
            msg = f"shard_batches must be a whole number >= 1 (got {shard_batches!r})"
            raise SettingsError(msg)
        self.runner = runner
        self.shard_batches = shard_batches
        self.retries = retries
        self._processes: int | None = None
        if isinstance(executor, int) and not isinstance(executor, bool):
            if executor < 1:
                msg = f"the sweep's executor: workers must be at least 1 (got {executor})"
                raise SettingsError(msg)
            self._processes = executor
            executor = self._new_pool()
        if not isinstance(executor, Executor):
            msg = f"the sweep's executor must be a concurrent.futures.Executor or a number of processes (got {type(executor).__name__})"
            raise SettingsError(msg)
        self.executor = executor
        self._rebuilds = 0
        self._tasks: dict[Future[Any], _Task] = {}
        self._jobs: dict[str, _Job] = {}
        self._asked: dict[str, tuple[Model, str, Evaluation | None, Stop | None]] = {}
        # Dask's executor names a task by its arguments unless told otherwise; a shard sent again must run again.
        self._options = {"pure": False} if type(executor).__module__.startswith("distributed.") else {}
        self._layouts: dict[tuple[Any, ...], tuple[tuple[Sample, ...], tuple[Skipped, ...]]] = {}

    def submit(self, name: str, model: Model, *, reference: Evaluation | None = None, stop: Stop | None = None) -> None:
        """Send the shards of ``model`` out now, unless an identical model's evaluation is known or on its way."""
        fingerprint = model.content_fingerprint()
        self._asked[name] = (model, fingerprint, reference, stop)
        if fingerprint in self._jobs or self.runner.lookup(model, name, partial=stop is not None,
                                                           fingerprint=fingerprint, count=False):
            return
        evaluator = self.runner.evaluator
        samples, skipped = self._layout(model)
        assembly = evaluator.assembly(model, samples, skipped, reference=reference, name=name)
        bounds = self._bounds(len(samples))
        job = _Job(assembly, bounds, evaluator.batch_size, stop, self.runner.report)
        self._jobs[fingerprint] = job
        data = model.to_bytes()
        key = hashlib.sha256(data + _pickled(evaluator.backend)).hexdigest()
        root = str(evaluator.data.root)
        for index, (start, end) in enumerate(bounds):
            files = tuple(str(s.path.relative_to(evaluator.data.root)) for s in samples[start:end])
            shard = Shard(data, key, evaluator.backend, Scan(root, files, signature(model).input, evaluator.preprocessing),
                          evaluator.batch_size, assembly.width)
            self._send(_Task(predict_shard, shard, functools.partial(job.arrive, index), job))

    def result(self, name: str) -> Evaluation:
        """The evaluation of the model submitted as ``name``: from this run or the cache, or when its shards are in."""
        model, fingerprint, reference, stop = self._asked[name]
        known = self.runner.lookup(model, name, partial=stop is not None, fingerprint=fingerprint)
        if known is not None:
            return known
        if fingerprint not in self._jobs:  # the cache entry seen when submitting went away
            self.submit(name, model, reference=reference, stop=stop)
        job = self._jobs[fingerprint]
        self._until(lambda: job.final is not None)
        self._cancel(job)
        final = job.final
        if final is None:
            msg = f"{name}: the sweep stopped waiting before its evaluation was complete"
            raise InternalError(msg)
        self.runner.remember(fingerprint, final)
        return attrs.evolve(final, name=name, size_bytes=model.size_bytes)

    def close(self) -> None:
        """Cancel every shard still out; shut down the process pool if this object made it."""
        for future in list(self._tasks):
            future.cancel()
        self._tasks.clear()
        if self._processes is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    # Scheduling -------------------------------------------------------------------------------

    def _layout(self, model: Model) -> tuple[tuple[Sample, ...], tuple[Skipped, ...]]:
        """The usable inputs for ``model``'s input and the skipped files, learnt once per input from scan tasks."""
        evaluator = self.runner.evaluator
        target = signature(model).input
        key = (attrs.astuple(target), evaluator.preprocessing)
        if key not in self._layouts:
            data = evaluator.data
            data.check_target(target)
            failed: dict[int, str] = {}
            bounds = self._bounds(len(data.samples))
            pending = set(range(len(bounds)))

            def scanned(index: int, value: dict[int, str]) -> None:
                failed.update({bounds[index][0] + i: reason for i, reason in value.items()})
                pending.discard(index)

            for index, (start, end) in enumerate(bounds):
                files = tuple(str(s.path.relative_to(data.root)) for s in data.samples[start:end])
                scan = Scan(str(data.root), files, target, evaluator.preprocessing)
                self._send(_Task(scan_shard, scan, functools.partial(scanned, index)))
            self._until(lambda: not pending)
            self._layouts[key] = data.usable(failed)
        return self._layouts[key]

    def _bounds(self, total: int) -> list[tuple[int, int]]:
        size = self.runner.evaluator.batch_size
        batches = max(self.shard_batches, -(-total // (size * MAX_SHARDS)))
        return shard_bounds(total, size, batches)

    def _send(self, task: _Task) -> None:
        while True:
            try:
                future = self.executor.submit(task.function, task.argument, **self._options)
            except BrokenProcessPool as error:
                self._rebuild(error)
                continue
            except RuntimeError as error:  # an executor shut down under us
                msg = f"the sweep's executor refused work ({type(error).__name__}: {error})"
                raise WorkerError(msg) from error
            self._tasks[future] = task
            return

    def _until(self, finished: Callable[[], bool]) -> None:
        """Settle finished tasks until ``finished()`` holds."""
        while not finished():
            if not self._tasks:
                msg = "the sweep waited for shards that were never sent"
                raise InternalError(msg)
            done, _ = wait(list(self._tasks), return_when=FIRST_COMPLETED)
            for future in done:
                task = self._tasks.pop(future, None)
                if task is None or future.cancelled():
                    continue
                error = future.exception()
                if error is None:
                    task.deliver(future.result())
                else:
                    self._failed(task, error)

    def _failed(self, task: _Task, error: BaseException) -> None:
        if isinstance(error, MlquantError):
            self.close()
            raise error
        if isinstance(error, BrokenProcessPool) and self._processes is not None:
            self._rebuild(error)
            self._send(task)
            return
        task.attempts += 1
        if task.attempts > self.retries:
            self.close()
            what = "a shard" if task.job is None else f"a shard of {task.job.assembly.name}"
            msg = (f"{what} failed on the executor's workers {task.attempts} times; last: "
                   f"{type(error).__name__}: {error}")
            raise WorkerError(msg) from error
        self._send(task)

    def _rebuild(self, error: BaseException) -> None:
        """Replace a broken process pool of our own and send everything that was out again."""
        if self._processes is None:
            msg = f"the sweep's process pool broke ({error}); pass workers=N to let the sweep rebuild its own pool"
            raise WorkerError(msg) from error
        self._rebuilds += 1
        if self._rebuilds > _REBUILDS:
            msg = (f"the sweep's worker processes died {self._rebuilds} times; last: {error} (a script that "
                   "starts worker processes must do so under `if __name__ == \"__main__\":`)")
            raise WorkerError(msg) from error
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._new_pool()
        lost = [t for f, t in self._tasks.items() if not (f.done() and not f.cancelled() and f.exception() is None)]
        finished = {f: t for f, t in self._tasks.items() if t not in lost}
        self._tasks = finished
        for task in lost:
            self._send(task)

    def _cancel(self, job: _Job) -> None:
        for future, task in list(self._tasks.items()):
            if task.job is job:
                future.cancel()
                del self._tasks[future]

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"))


def _pickled(backend: Any) -> bytes:
    """The backend as it travels to workers.

    Raises:
        SettingsError: It cannot be pickled.
    """
    try:
        return pickle.dumps(backend)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        msg = (f"the backend {backend!r} cannot be sent to workers ({error}); keep settings in attributes and drop "
               "compiled state in __getstate__, as mlquant's backends do")
        raise SettingsError(msg) from None


def make_runs(runner: CachingEvaluator, executor: Executor | int | None) -> LocalRuns | ShardedRuns:
    """How a sweep evaluates its candidates: in this process, or on ``executor`` (or that many processes)."""
    return LocalRuns(runner) if executor is None else ShardedRuns(runner, executor)
