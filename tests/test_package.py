"""The package as a whole: a cheap import, a tidy public surface, and documentation."""

from __future__ import annotations

import inspect
import subprocess
import sys

import mlquant


class TestPackage:
    def test_import_is_cheap(self) -> None:
        """import mlquant pulls in none of coremltools, scikit-learn, SciPy, matplotlib, Pillow, tqdm, onnx or Dask."""
        heavy = ("coremltools", "sklearn", "scipy", "matplotlib", "PIL", "tqdm", "onnx", "onnxruntime", "dask",
                 "distributed")
        code = f"import sys, mlquant; print(sorted(m for m in {heavy!r} if m in sys.modules))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "[]"

    def test_public_names(self) -> None:
        """__all__ is sorted, and every public name exists and has a docstring."""
        assert mlquant.__all__ == sorted(mlquant.__all__)
        for name in mlquant.__all__:
            assert inspect.getdoc(getattr(mlquant, name)), name

    def test_errors_share_a_root_and_a_builtin(self) -> None:
        """Every mlquant error is an MlquantError and also the builtin a caller expects."""
        assert issubclass(mlquant.ModelNotFoundError, FileNotFoundError)
        assert issubclass(mlquant.UnsupportedLayerError, NotImplementedError)
        for name in ("DataError", "InvalidModelError", "QuantizationError", "SettingsError", "OverwriteError",
                     "UnsupportedModelError", "UnsupportedLayerError", "ModelNotFoundError", "OutputError", "WorkerError"):
            assert issubclass(getattr(mlquant, name), mlquant.MlquantError)
