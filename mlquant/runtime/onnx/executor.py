"""The executor: a model translated into one ONNX graph and run by onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...errors import DataError, SettingsError, UnsupportedModelError
from .._feeds import check_feeds, check_item_shape
from ._translated import Translated

if TYPE_CHECKING:
    from ...formats import Model

__all__ = ["OnnxProgram"]

Precision = Literal["model", "float32"]


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        msg = "the onnxruntime backend needs onnxruntime and onnx: pip install 'mlquant[onnxruntime]'"
        raise UnsupportedModelError(msg) from None
    return onnxruntime


class OnnxProgram:
    """A Core ML model translated into an ONNX graph and run by onnxruntime.

    Construction translates every layer (or operation) and builds the onnxruntime session, so a
    model it cannot translate fails here, before any input is read. Weights are the float32
    values Core ML computes with (``Model.read``, ``const_value``): a quantized model runs with
    its dequantized weights.

    Args:
        model: A NeuralNetwork model or an ML Program.
        precision: ``"model"`` computes as the model says (an fp16 ML Program has every fp16
            result rounded to half precision, as :class:`~mlquant.runtime.MILProgram` does);
            ``"float32"`` computes everything in float32.
        providers: onnxruntime execution providers, in order of preference (CPU by default).
        threads: Threads per operator (onnxruntime's default, one per core, if None).

    Raises:
        UnsupportedLayerError: A layer or operation the translation does not cover; the
            message names it and suggests the reference backend.
        UnsupportedModelError: onnxruntime is not installed, or the model's type has no translation.
        SettingsError: Unknown precision or execution provider.
    """

    PRECISIONS = ("model", "float32")

    def __init__(
        self,
        model: Model,
        *,
        precision: Precision = "model",
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        if precision not in self.PRECISIONS:
            msg = f"OnnxProgram: precision must be one of {', '.join(self.PRECISIONS)} (got {precision!r})"
            raise SettingsError(msg)
        ort = _onnxruntime()
        self.precision = precision
        self.translated: Translated = _translate(model, precision)
        self.providers = tuple(providers or ("CPUExecutionProvider",))
        known = set(ort.get_available_providers())
        unknown = [p for p in self.providers if p not in known]
        if unknown:
            msg = f"onnxruntime has no execution provider {unknown[0]!r} here (available: {', '.join(sorted(known))})"
            raise SettingsError(msg)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: on a machine shared with other work (or
        # with the evaluator's own decoding threads) spinning takes the cores the work needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = int(threads)
        self.onnx_model = self.translated.graph.model()
        self._session = ort.InferenceSession(self.onnx_model.SerializeToString(), options, providers=list(self.providers))
        self._graph_outputs = [o.name for o in self._session.get_outputs()]

    def __repr__(self) -> str:
        return (
            f"<OnnxProgram {len(self.translated.graph.nodes)} nodes, {self.precision}, "
            f"inputs {list(self.input_names)}, outputs {list(self.output_names)}>"
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names :meth:`run` expects in its feeds, in the model's order."""
        return tuple(feed.name for feed in self.translated.feeds)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the results :meth:`run` returns, in the model's order."""
        return self.translated.outputs

    @property
    def batched(self) -> bool:
        """Whether a batch runs through the graph in one pass (else item by item)."""
        return self.translated.batched

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on a batch: the same feeds and results as the reference executors' ``run``.

        Raises:
            DataError: Feeds missing, unknown, of the wrong shape, or of different batch sizes.
        """
        checked = check_feeds(feeds, self.input_names, self._check_one)
        if self.translated.batched:
            raw = self._session.run(self._graph_outputs, checked)
        else:
            batch = next(iter(checked.values())).shape[0]
            items = [self._session.run(self._graph_outputs, {n: x[i : i + 1] for n, x in checked.items()})
                     for i in range(batch)]
            raw = [np.concatenate([item[k] for item in items]) for k in range(len(self._graph_outputs))]
        results = dict(zip(self._graph_outputs, raw, strict=True))
        if self.translated.post is not None:
            results = self.translated.post(results)
        return {name: results[name] for name in self.output_names}

    def _check_one(self, name: str, feed: Any) -> np.ndarray:
        (spec,) = (f for f in self.translated.feeds if f.name == name)
        try:
            x = np.ascontiguousarray(np.asarray(feed, dtype=spec.dtype))
        except (TypeError, ValueError) as error:
            kind = "float" if spec.dtype.kind == "f" else str(spec.dtype)
            msg = f"input '{name}': expected a {kind} array (got {type(feed).__name__}: {error})"
            raise DataError(msg) from None
        return check_item_shape(name, x, spec.item_shape)


def _translate(model: Model, precision: Precision) -> Translated:
    if model.format == "mlprogram":
        from .mlprogram import translate as translate_program

        return translate_program(model, precision=precision)
    if model.format == "neuralnetwork":
        from .neuralnetwork import translate as translate_network

        return translate_network(model, precision=precision)
    msg = f"the onnxruntime backend has no translation for {model.format} models"
    raise UnsupportedModelError(msg)
