"""The onnxruntime backend: the model translated to an ONNX graph, run by onnxruntime.

It computes what :class:`~mlquant.evaluate.ReferenceBackend` computes (the same layers, the same
dequantized weights, the same preprocessing and label order) several times faster, on any
platform onnxruntime runs on. Needs the optional extra ``pip install 'mlquant[onnxruntime]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import SettingsError
from ..formats import Model
from .backends import _Compiling

__all__ = ["OnnxRuntimeBackend"]


class OnnxRuntimeBackend(_Compiling):
    """The model translated into one ONNX graph (:class:`~mlquant.runtime.onnx.OnnxProgram`) and run by onnxruntime.

    A layer the translation does not cover fails in :meth:`prepare`, before any input is read,
    with an ``UnsupportedLayerError`` that names it and suggests the reference backend.

    Args:
        providers: onnxruntime execution providers in order of preference (CPU if None).
        precision: ``"model"`` computes as the model says (a NeuralNetwork in float32, an ML
            Program in its own dtypes); ``"float32"`` computes everything in float32.
        threads: Threads per operator (onnxruntime's default, one per core, if None).

    Raises:
        SettingsError: Unknown precision, or a thread count below 1.
    """

    PRECISIONS = ("model", "float32")

    def __init__(
        self, providers: Sequence[str] | None = None, precision: str = "model", threads: int | None = None
    ) -> None:
        if precision not in self.PRECISIONS:
            msg = f"OnnxRuntimeBackend: precision must be one of {', '.join(self.PRECISIONS)} (got {precision!r})"
            raise SettingsError(msg)
        if threads is not None and int(threads) < 1:
            msg = f"OnnxRuntimeBackend: threads must be at least 1 (got {threads})"
            raise SettingsError(msg)
        if isinstance(providers, str):
            providers = [p for p in providers.split(",") if p]
        self.providers = tuple(providers) if providers else None
        self.precision = precision
        self.threads = None if threads is None else int(threads)
        self.name = "onnxruntime" if precision == "model" else f"onnxruntime-{precision}"

    def __repr__(self) -> str:
        return f"OnnxRuntimeBackend(providers={self.providers!r}, precision={self.precision!r}, threads={self.threads!r})"

    def _compile(self, model: Model) -> Any:
        """Translate ``model`` into one ONNX graph and build its onnxruntime session."""
        from ..runtime.onnx import OnnxProgram

        return OnnxProgram(model, precision=self.precision, providers=self.providers, threads=self.threads)  # type: ignore[arg-type]
