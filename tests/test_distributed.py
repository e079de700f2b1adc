"""Sweeps on an executor: threads, local processes and a Dask cluster give a serial run's files.

The oracle is the serial sweep of the same model, data and grid: ``results.csv`` and every cache
entry must match it byte for byte, however many workers run the shards, whatever order they
finish in, when a worker dies halfway, and when a sweep is interrupted and resumed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import shutil
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import mlquant
from mlquant.cli.parser import main
from mlquant.evaluate import ReferenceBackend
from mlquant.evaluate.shards import shard_bounds
from mlquant.formats import from_bytes
from mlquant.workflow.parallel import RETRIES

BATCH = 4  # 60 inputs: 15 batches, shards of 4 batches, 4 shards per candidate


def grid() -> list[mlquant.Quantizer]:
    """A small grid whose smallest candidates fail the tolerance and whose larger ones pass."""
    return [mlquant.LinearQuantizer(nbits=8), mlquant.LinearQuantizer(nbits=2), mlquant.LinearQuantizer(nbits=1),
            mlquant.KMeansLUTQuantizer(nbits=3), mlquant.KMeansLUTQuantizer(nbits=1)]


class KillOnce(ReferenceBackend):
    """The reference runtime, except that the first prediction anywhere kills its own process."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = str(marker)

    def predict(self, model, inputs):  # type: ignore[no-untyped-def]
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().predict(model, inputs)


class Failing(ReferenceBackend):
    """A backend that cannot run anything, as mlquant reports it."""

    def predict(self, model, inputs):  # type: ignore[no-untyped-def]
        raise mlquant.UnsupportedLayerError("layer 'fc': no kernel for this test")


class Locked(ReferenceBackend):
    """A backend holding something that cannot be pickled."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


class Flaky(Executor):
    """A thread pool whose first ``failures`` tasks fail as if their worker had died."""

    def __init__(self, failures: int) -> None:
        self.pool = ThreadPoolExecutor(2)
        self.failures = failures
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.submitted += 1
        if self.failures > 0:
            self.failures -= 1
            future: Future[Any] = Future()
            future.set_exception(ConnectionError("worker lost"))
            return future
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class Recording(ReferenceBackend):
    """The reference runtime, noting every batch it is given (model file and input bytes)."""

    calls: ClassVar[list[tuple[str, str]]] = []

    def predict(self, model, inputs):  # type: ignore[no-untyped-def]
        Recording.calls.append((model.fingerprint(), hashlib.sha256(inputs.tobytes()).hexdigest()))
        return super().predict(model, inputs)


@pytest.fixture(scope="module")
def small(demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six digits of each class from the demo's held-out images (60 inputs), and a damaged image early on.

    The damaged file is skipped, so the usable inputs are not the folder's files: shards must
    follow the serial run's batches over the usable ones.
    """
    root = tmp_path_factory.mktemp("small")
    for folder in sorted(demo.data.iterdir()):
        (root / folder.name).mkdir()
        for image in sorted(folder.iterdir())[:6]:
            shutil.copy(image, root / folder.name / image.name)
    (root / "3" / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return root


def run(demo, data: Path, out: Path, *, fast: bool = False, **options: Any) -> mlquant.SweepResult:
    options.setdefault("backend", ReferenceBackend())
    return mlquant.sweep(demo.model, data, out_dir=out, grid=grid(), batch_size=BATCH, fast=fast, **options)


@pytest.fixture(scope="module")
def serial(demo, small: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, mlquant.SweepResult]:
    """The serial sweeps every other run must match, without and with ``fast``."""
    return {fast: run(demo, small, tmp_path_factory.mktemp(f"serial{fast}"), fast=fast) for fast in (False, True)}


def files(out: Path) -> dict[str, bytes]:
    """``results.csv`` and the cache entries of a sweep's output folder, by name."""
    found = {"results.csv": (out / "results.csv").read_bytes()}
    found.update({p.name: p.read_bytes() for p in sorted((out / ".cache").iterdir())})
    return found


def assert_same(result: mlquant.SweepResult, oracle: mlquant.SweepResult) -> None:
    assert result.out_dir is not None and oracle.out_dir is not None
    assert files(result.out_dir) == files(oracle.out_dir)
    assert result.inputs_evaluated == oracle.inputs_evaluated
    assert [c.evaluation is None for c in result.candidates] == [c.evaluation is None for c in oracle.candidates]


class TestModelBytes:
    def test_a_neural_network_round_trips(self, demo) -> None:
        """A NeuralNetwork model comes back from its bytes with the same file and predictions."""
        model = mlquant.load(demo.model)
        back = from_bytes(model.to_bytes())
        assert type(back) is type(model) and back.fingerprint() == model.fingerprint()
        assert back.size_bytes == model.size_bytes and back.to_bytes() == model.to_bytes()

    def test_an_ml_program_round_trips(self, demo, tmp_path: Path) -> None:
        """An ML Program, float and quantized (a blob file), comes back with the same spec, blobs and size."""
        program = mlquant.convert(mlquant.load(demo.model), tmp_path / "digits.mlpackage")
        for model in (program, mlquant.quantize(program, mlquant.KMeansLUTQuantizer(nbits=4))):
            back = from_bytes(model.to_bytes())
            assert isinstance(back, mlquant.MLProgramModel)
            assert back.fingerprint() == model.fingerprint() and back.size_bytes == model.size_bytes
            assert back.content_fingerprint() == model.content_fingerprint()
            inputs = np.random.default_rng(0).integers(0, 256, (3, 1, 8, 8), dtype=np.uint8)
            backend = ReferenceBackend()
            assert np.array_equal(backend.predict(back, inputs), ReferenceBackend().predict(model, inputs))

    def test_bytes_that_hold_no_model_are_refused(self) -> None:
        """Neither a damaged archive nor random bytes pass for a model."""
        with pytest.raises(mlquant.InvalidModelError, match="not a readable model archive"):
            from_bytes(b"PK\x03\x04 not really a zip")
        with pytest.raises(mlquant.InvalidModelError):
            from_bytes(b"\x00\x01garbage")

    def test_a_backend_pickles_without_its_compiled_model(self, demo) -> None:
        """A reference backend that ran a model pickles small and runs again where it lands."""
        model = mlquant.load(demo.model)
        backend = ReferenceBackend()
        backend.prepare(model)
        copy = pickle.loads(pickle.dumps(backend))
        assert copy._compiled is None and copy.name == backend.name and backend._compiled is not None


class TestShards:
    def test_shards_are_whole_batches(self) -> None:
        """Every shard but the last holds whole batches, and together they cover every input once."""
        assert shard_bounds(61, 4, 4) == [(0, 16), (16, 32), (32, 48), (48, 61)]
        assert shard_bounds(8, 4, 4) == [(0, 8)]


class TestThreads:
    def test_same_files_as_serial(self, demo, small: Path, serial, tmp_path: Path) -> None:
        """Two threads give the serial results.csv and cache entries, with and without fast."""
        with ThreadPoolExecutor(2) as pool:
            for fast in (False, True):
                assert_same(run(demo, small, tmp_path / str(fast), fast=fast, executor=pool), serial[fast])

    def test_progress_reports_candidates_and_inputs(self, demo, small: Path, tmp_path: Path) -> None:
        """The progress callback hears of every candidate and, per model, of its inputs up to the last."""
        seen: list[tuple[str, int, int]] = []
        with ThreadPoolExecutor(2) as pool:
            run(demo, small, tmp_path / "s", executor=pool, progress=lambda *args: seen.append(args))
        assert ("candidates", 5, 5) in seen and ("evaluating float", 60, 60) in seen
        inputs = [done for label, done, _ in seen if label == "evaluating linear_8"]
        assert inputs == list(range(BATCH, 61, BATCH))

    def test_an_ml_program_gives_the_serial_files(self, demo, small: Path, tmp_path: Path) -> None:
        """An ML Program travels to the workers as bytes too, and its sweep matches the serial one."""
        program = mlquant.convert(mlquant.load(demo.model), tmp_path / "digits.mlpackage")
        grid = [mlquant.KMeansLUTQuantizer(nbits=4), mlquant.LinearLUTQuantizer(nbits=2)]
        options: dict[str, Any] = {"grid": grid, "batch_size": BATCH, "backend": ReferenceBackend()}
        serial = mlquant.sweep(program, small, out_dir=tmp_path / "serial", **options)
        with ThreadPoolExecutor(2) as pool:
            threads = mlquant.sweep(program, small, out_dir=tmp_path / "threads", executor=pool, **options)
        assert len(threads.candidates) == 2
        assert_same(threads, serial)

    def test_every_backend_call_sees_a_serial_batch(self, demo, small: Path, tmp_path: Path) -> None:
        """Each model is run on exactly the batches a serial sweep runs it on, byte for byte."""
        Recording.calls.clear()
        run(demo, small, tmp_path / "serial", backend=Recording())
        serial_calls = sorted(Recording.calls)
        Recording.calls.clear()
        with ThreadPoolExecutor(2) as pool:
            run(demo, small, tmp_path / "threads", backend=Recording(), executor=pool)
        assert sorted(Recording.calls) == serial_calls and len(serial_calls) == 6 * 15

    def test_the_damaged_image_is_skipped_as_in_serial(self, serial) -> None:
        """The oracle holds the damaged file among its skipped ones, and 60 usable inputs."""
        baseline = serial[False].baseline
        assert [s.path.name for s in baseline.skipped] == ["damaged.png"] and len(baseline.files) == 60

    def test_fast_mode_stops_where_serial_stops(self, serial) -> None:
        """The oracle itself: fast mode stops some candidates early and skips others, so the comparison means something."""
        fast = serial[True]
        assert any(c.evaluation is not None and not c.evaluation.complete for c in fast.candidates)
        assert any(c.evaluation is None for c in fast.candidates)

    def test_an_error_in_a_worker_is_raised_as_it_is(self, demo, small: Path, tmp_path: Path) -> None:
        """An mlquant error raised in a worker reaches the caller unchanged, not as a worker failure."""
        with ThreadPoolExecutor(2) as pool, pytest.raises(mlquant.UnsupportedLayerError, match="no kernel"):
            run(demo, small, tmp_path / "s", backend=Failing(), executor=pool)


    def test_a_backend_that_cannot_travel_is_refused(self, demo, small: Path, tmp_path: Path) -> None:
        """A backend that cannot be pickled is a settings error that says what to change."""
        with ThreadPoolExecutor(1) as pool, pytest.raises(mlquant.SettingsError, match="cannot be sent to workers"):
            run(demo, small, tmp_path / "s", backend=Locked(), executor=pool)


class TestRetries:
    def test_failed_tasks_are_sent_again(self, demo, small: Path, serial, tmp_path: Path) -> None:
        """Tasks whose worker was lost are sent again and the results are the serial ones."""
        flaky = Flaky(failures=3)
        assert_same(run(demo, small, tmp_path / "s", executor=flaky), serial[False])
        assert flaky.submitted > 3
        flaky.shutdown()

    def test_a_task_that_always_fails_is_reported(self, demo, small: Path, tmp_path: Path) -> None:
        """A task that fails every time it is tried ends the sweep with a WorkerError naming the last failure."""
        flaky = Flaky(failures=10**6)
        with pytest.raises(mlquant.WorkerError, match=rf"{RETRIES + 1} times; last: ConnectionError: worker lost"):
            run(demo, small, tmp_path / "s", executor=flaky)
        flaky.shutdown()


class TestProcesses:
    def test_same_files_as_serial(self, demo, small: Path, serial, processes, tmp_path: Path) -> None:
        """A caller's pool of two processes gives the serial results, with and without fast."""
        for fast in (False, True):
            assert_same(run(demo, small, tmp_path / str(fast), fast=fast, executor=processes), serial[fast])

    def test_a_killed_worker_loses_nothing(self, demo, small: Path, serial, tmp_path: Path) -> None:
        """A worker process of the sweep's own pool that dies mid-sweep is replaced, its tasks run again, and the
        results are the serial ones."""
        marker = tmp_path / "killed"
        result = run(demo, small, tmp_path / "s", executor=1, backend=KillOnce(marker))
        assert marker.is_file()
        assert_same(result, serial[False])

    def test_an_interrupted_sweep_resumes_from_the_cache(self, demo, small: Path, serial, processes,
                                                         tmp_path: Path) -> None:
        """A sweep stopped after two candidates resumes on workers from its cache and ends with the serial files."""

        class Stop(Exception):
            pass

        def stop_after_two(label: str, done: int, total: int) -> None:
            if label == "candidates" and done == 2:
                raise Stop

        out = tmp_path / "s"
        with pytest.raises(Stop):
            run(demo, small, out, executor=processes, progress=stop_after_two)
        assert len(list((out / ".cache").iterdir())) >= 3  # the float model and two candidates
        again = run(demo, small, out, executor=processes)
        assert again.reused >= 3
        assert files(out) == files(serial[False].out_dir)


@pytest.fixture(scope="module")
def processes():  # type: ignore[no-untyped-def]
    """Two spawned worker processes, shared by the tests that do not kill one."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    """A local Dask cluster of two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


class TestDask:
    def test_same_files_as_serial(self, client, demo, small: Path, serial, tmp_path: Path) -> None:
        """Two Dask workers give the serial results, with and without fast."""
        for fast in (False, True):
            assert_same(run(demo, small, tmp_path / str(fast), fast=fast, executor=client.get_executor()), serial[fast])

    def test_a_killed_worker_loses_nothing(self, client, demo, small: Path, serial, tmp_path: Path) -> None:
        """A Dask worker that dies mid-sweep is restarted, its tasks run elsewhere, and the results are the serial ones."""
        marker = tmp_path / "killed"
        result = run(demo, small, tmp_path / "s", executor=client.get_executor(), backend=KillOnce(marker))
        assert marker.is_file()
        assert_same(result, serial[False])


class TestCommandLine:
    def test_workers_give_the_serial_results(self, demo, small: Path, tmp_path: Path) -> None:
        """``mlquant sweep --workers 1`` writes the results.csv of the same command without it."""
        common = ["sweep", str(demo.model), "--data", str(small), "--methods", "linear", "--nbits", "8,2",
                  "--batch-size", str(BATCH), "--backend", "reference", "--quiet"]
        assert main([*common, "--out", str(tmp_path / "serial")]) in (0, 1)
        assert main([*common, "--out", str(tmp_path / "one"), "--workers", "1"]) in (0, 1)
        assert (tmp_path / "one" / "results.csv").read_bytes() == (tmp_path / "serial" / "results.csv").read_bytes()

    def test_workers_and_scheduler_together_are_refused(self, demo, small: Path, capsys) -> None:
        """--workers with --scheduler is a one-line usage error, exit code 2."""
        with pytest.raises(SystemExit) as stopped:
            main(["sweep", str(demo.model), "--data", str(small), "--workers", "2", "--scheduler", "tcp://h:8786"])
        assert stopped.value.code == 2
        assert capsys.readouterr().err.strip().count("\n") == 0

    def test_scheduler_without_dask_says_what_to_install(self, demo, small: Path, tmp_path: Path, capsys,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        """--scheduler without Dask installed is a one-line error naming the extra, exit code 2."""
        monkeypatch.setitem(__import__("sys").modules, "distributed", None)
        code = main(["sweep", str(demo.model), "--data", str(small), "--out", str(tmp_path / "s"),
                     "--scheduler", "tcp://127.0.0.1:8786", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "mlquant[distributed]" in err and err.count("\n") == 0
