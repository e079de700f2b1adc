"""Shared fixtures: the real food model and its images, the built-in demo, ML Program packages, and the README's run.

The real model and images live beside the project in ``../shared/food``; set ``MLQUANT_FOOD_DIR``
to use them from elsewhere. Tests that need them skip, with a short reason, when they are absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._examples import SENT_BACK

#: The project's folder.
ROOT = Path(__file__).resolve().parents[1]
#: The real SqueezeNet food classifier and its 700 test images, kept outside the project.
FOOD_DIR = Path(os.environ.get("MLQUANT_FOOD_DIR") or ROOT.parent / "shared" / "food")


#: The engines every runtime test runs with: the reference runtime and the ONNX translation.
ENGINES = ("reference", "onnx")

#: Test modules run once per engine, and the fixture that switches each one's engine.
_ENGINE_FIXTURES = {"test_runtime_": "runtime_engine", "test_mlruntime_": "mil_engine"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each ``test_runtime_*`` and ``test_mlruntime_*`` test once per engine, unless it is marked
    ``reference_only``."""
    module = metafunc.module.__name__.rpartition(".")[2]
    for prefix, fixture in _ENGINE_FIXTURES.items():
        if module.startswith(prefix) and metafunc.definition.get_closest_marker("reference_only") is None:
            metafunc.parametrize(fixture, ENGINES, indirect=True)


@pytest.fixture(autouse=True)
def runtime_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine ``tests/_runtime_models.py`` runs NeuralNetwork models with in this test (the
    reference runtime unless the test is parametrized over :data:`ENGINES`)."""
    engine = getattr(request, "param", "reference")
    if engine != "reference":
        from . import _runtime_models

        monkeypatch.setattr(_runtime_models, "ENGINE", engine)
    return engine


@pytest.fixture(autouse=True)
def mil_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine ``tests/_mil.py`` runs ML Programs with in this test (likewise)."""
    engine = getattr(request, "param", "reference")
    if engine != "reference":
        from . import _mil

        monkeypatch.setattr(_mil, "ENGINE", engine)
    return engine


@pytest.fixture(scope="session")
def food_dir() -> Path:
    """The food model's folder; tests that need it skip when it is absent."""
    if not (FOOD_DIR / "food.mlmodel").is_file():
        pytest.skip(f"no food model at {FOOD_DIR} (set MLQUANT_FOOD_DIR)")
    return FOOD_DIR


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The built-in digits demo's model and images, built once per session (read-only for tests)."""
    from mlquant.workflow.demo import build_digits_demo

    return build_digits_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def food_model(food_dir: Path):
    """The food model, loaded once per test session."""
    import mlquant

    return mlquant.load(food_dir / "food.mlmodel")


@pytest.fixture(autouse=True)
def _every_written_model_passes_the_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model the tests save through mlquant reads back with no problems (issue 8: no file mlquant
    writes may fail Core ML's checks)."""
    import mlquant
    from mlquant.formats import Model

    save = Model.save

    def checked(self: Model, path, **kwargs):  # type: ignore[no-untyped-def]
        written = save(self, path, **kwargs)
        found = mlquant.problems(mlquant.load(written))
        assert not found, f"{written} fails the validator: {found}"
        if written.suffix == ".mlpackage":
            _coremltools_loads_package(written)
        return written

    monkeypatch.setattr(Model, "save", checked)


def _coremltools_loads_package(path: Path) -> None:
    """coremltools opens the package and its MIL loader reads every constant of it."""
    import warnings

    from ._mlprograms import coremltools_constants

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools as ct

        ct.models.MLModel(str(path), skip_model_load=True)
    coremltools_constants(path)


@pytest.fixture(scope="session")
def mlpackages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every ML Program package of ``tests/_mlprograms.py`` (plain and compressed by coremltools), built once
    per session; tests copy a package before changing it."""
    from ._mlprograms import build_all

    return build_all(tmp_path_factory.mktemp("mlpackages"))


@pytest.fixture(scope="session")
def food_work(food_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder where ``food.mlmodel`` and ``testing_data`` are links to the real ones, as in the README."""
    work = tmp_path_factory.mktemp("food-work")
    (work / "food.mlmodel").symlink_to(food_dir / "food.mlmodel")
    (work / "testing_data").symlink_to(food_dir / "testing_data")
    return work


@pytest.fixture(scope="session", autouse=True)
def _readme_in_background(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen | None]:
    """When the session has tests of the README's examples (which include the full food sweep), start the
    examples at once in another process beside the food model, so they run while the other tests do."""
    wanted = any("readme_run" in item.fixturenames for item in request.session.items)
    if not wanted or not (FOOD_DIR / "food.mlmodel").is_file():
        yield None
        return
    process = _start_readme(request.getfixturevalue("food_work"))
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _start_readme(work: Path) -> subprocess.Popen:
    """``python -m tests._examples`` on the README in ``work``, at a lower priority than the tests (it takes the
    processor time they leave); its output goes to ``readme.log`` beside ``work``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "tests._examples", str(ROOT / "README.md"), str(work), str(_readme_out(work))]
    with open(work.parent / "readme.log", "wb") as log:
        return subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.nice(10))


def _readme_out(work: Path) -> Path:
    return work.parent / "readme.pickle"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that read the README's run go last (in their order), so the run has the rest of the session
    to finish in."""
    late = {item.module for item in items if isinstance(item, pytest.Function) and "readme_run" in item.fixturenames}
    items.sort(key=lambda item: getattr(item, "module", None) in late)


@pytest.fixture(scope="session")
def readme_run(food_work: Path, _readme_in_background: subprocess.Popen | None) -> tuple[dict, list[tuple[str, str]]]:
    """The README's Python examples, run once beside the food model in another process: they include the full
    food sweep. Returns what they printed and a namespace of their float evaluation ``base`` and sweep ``result``,
    with their ``model`` and an evaluator ``ev`` of the same data built again here."""
    import pickle

    import mlquant

    process = _readme_in_background or _start_readme(food_work)
    if process.wait() != 0:
        log = (food_work.parent / "readme.log").read_text(errors="replace")
        pytest.fail(f"the README's examples failed (exit code {process.returncode}):\n{log}", pytrace=False)
    sent = pickle.loads(_readme_out(food_work).read_bytes())
    namespace = {name: sent[name] for name in SENT_BACK}
    namespace |= {"model": mlquant.load(food_work / "food.mlmodel"), "ev": mlquant.Evaluator(food_work / "testing_data")}
    return namespace, sent["printed"]
