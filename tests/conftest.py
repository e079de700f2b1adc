"""Shared fixtures: the real food model and its images, when they are beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The real SqueezeNet food classifier and its 700 test images, kept outside the project.
FOOD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "food"


@pytest.fixture(scope="session")
def food_dir() -> Path:
    """The ``../shared/food`` folder; tests that need it skip when it is absent."""
    if not (FOOD_DIR / "food.mlmodel").is_file():
        pytest.skip(f"the real food model is not at {FOOD_DIR} (it lives beside the project in ../shared/food)")
    return FOOD_DIR


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
        return written

    monkeypatch.setattr(Model, "save", checked)
