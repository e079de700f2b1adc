"""Backends: the protocol, the reference runtime, and Core ML (on macOS only)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.errors import SettingsError, UnsupportedModelError
from mlquant.evaluate import Evaluator
from mlquant.evaluate.backends import Backend, CoreMLBackend, ReferenceBackend, default_backend

ON_MAC = platform.system() == "Darwin"


class TestProtocol:
    def test_a_double_is_a_backend(self) -> None:
        """A subclass that writes predict(model, inputs) is a Backend, with a prepare() that does nothing."""

        class Fixed(Backend):
            name = "fixed"

            def predict(self, model, inputs):
                return np.zeros((len(inputs), 3))

        assert isinstance(Fixed(), Backend) and isinstance(ReferenceBackend(), Backend)
        assert Fixed().prepare(None) is None  # type: ignore[arg-type]

    def test_anything_else_is_refused(self, tmp_path: Path) -> None:
        """An object that is not a Backend subclass is refused by the evaluator with a one-line error."""

        class Loose:
            name = "loose"

            def predict(self, model, inputs):
                return np.zeros((len(inputs), 3))

        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "x.npy").write_bytes(b"")
        with pytest.raises(SettingsError, match="must be an mlquant.Backend subclass"):
            Evaluator(tmp_path, backend=Loose())  # type: ignore[arg-type]

    def test_default_follows_the_platform(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Core ML is the default on macOS, the reference runtime elsewhere."""
        monkeypatch.setattr(platform, "system", lambda: "Darwin")
        assert isinstance(default_backend(), CoreMLBackend)
        monkeypatch.setattr(platform, "system", lambda: "Linux")
        assert isinstance(default_backend(), ReferenceBackend)


class TestReference:
    def test_scores_in_label_order(self, demo) -> None:
        """The reference backend returns one probability row per input over the model's labels."""
        model = mlquant.load(demo.model)
        pixels = mlquant.Evaluator(demo.data, backend=ReferenceBackend()).inputs(model).inputs[:7]
        scores = ReferenceBackend().predict(model, pixels)
        assert scores.shape == (7, 10)
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)

    def test_float16_mode_is_close(self, demo) -> None:
        """Rounding activations to float16 changes scores only slightly."""
        model = mlquant.load(demo.model)
        pixels = mlquant.Evaluator(demo.data, backend=ReferenceBackend()).inputs(model).inputs[:32]
        full, half = ReferenceBackend().predict(model, pixels), ReferenceBackend(float16=True).predict(model, pixels)
        assert np.abs(full - half).max() < 1e-2 and ReferenceBackend(float16=True).name == "reference-float16"


class TestCoreML:
    def test_compute_units_are_validated(self) -> None:
        """Unknown compute units are refused with the known names."""
        with pytest.raises(SettingsError, match="compute_units must be one of ALL, CPU_ONLY"):
            CoreMLBackend("GPU")

    @pytest.mark.skipif(ON_MAC, reason="on macOS Core ML is available")
    def test_refuses_clearly_off_macos(self, demo) -> None:
        """Off macOS the Core ML backend says it needs macOS, before reading any input."""
        with pytest.raises(UnsupportedModelError, match="Core ML prediction runs only on macOS"):
            CoreMLBackend().prepare(mlquant.load(demo.model))

    @pytest.mark.skipif(not ON_MAC, reason="Core ML prediction exists only on macOS")
    @pytest.mark.parametrize("units", ["CPU_ONLY", "ALL"])
    def test_agrees_with_the_reference_runtime(self, demo, units: str) -> None:
        """Core ML and the reference runtime predict the same digits."""
        model = mlquant.load(demo.model)
        evaluator = mlquant.Evaluator(demo.data, backend=ReferenceBackend())
        reference = evaluator.evaluate(model)
        coreml = mlquant.Evaluator(demo.data, backend=CoreMLBackend(units)).evaluate(model, reference=reference)
        assert coreml.top1_agreement >= 0.99
