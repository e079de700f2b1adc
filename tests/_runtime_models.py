"""Small one-layer (or few-layer) models for the reference runtime's tests.

Each helper builds a spec with coremltools' ``NeuralNetworkBuilder`` (imported lazily), wraps
it in :class:`mlquant.Model` and runs it through :class:`mlquant.runtime.Network`, so a test
reads as "this layer, these inputs, this expected output".

:data:`ENGINE` says which engine runs them: the reference runtime, or its translation to ONNX
run by onnxruntime (:class:`mlquant.runtime.onnx.OnnxProgram`). ``tests/conftest.py`` runs
every ``test_runtime_*`` test with both, so each layer test checks both engines against the
same oracle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import mlquant
from mlquant import _coreml
from mlquant.runtime import Network


def builder(
    inputs: Mapping[str, Sequence[int]], outputs: Sequence[str] = ("out",), mode: str | None = None
) -> Any:
    """A ``NeuralNetworkBuilder`` with multi-array inputs of the given ``[C]`` / ``[C, H, W]`` shapes."""
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    features = [(name, datatypes.Array(*shape)) for name, shape in inputs.items()]
    return NeuralNetworkBuilder(features, [(name, None) for name in outputs], mode=mode)


#: The engine :func:`network`, :func:`run` and :func:`one_layer` use: ``"reference"`` or ``"onnx"``.
ENGINE = "reference"


def network(spec: Any, *, float16: bool = False) -> Any:
    """The current engine's executor for a spec (a :class:`Network` or an ``OnnxProgram``)."""
    return executor(mlquant.Model(spec), float16=float16)


def executor(model: mlquant.Model, *, float16: bool = False) -> Any:
    """The current engine's executor for a model."""
    if ENGINE == "onnx":
        if float16:
            raise ValueError("the ONNX translation has no float16 mode: mark the test reference_only")
        from mlquant.runtime.onnx import OnnxProgram

        return OnnxProgram(model)
    return Network(model, float16=float16)


def run(spec: Any, feeds: Mapping[str, np.ndarray], *, float16: bool = False) -> dict[str, np.ndarray]:
    """Run a spec on batch-first feeds; returns every output."""
    return network(spec, float16=float16).run({k: np.asarray(v, np.float32) for k, v in feeds.items()})


def one_layer(
    add: Callable[[Any], None],
    x: np.ndarray,
    *,
    extra: Mapping[str, np.ndarray] | None = None,
    outputs: Sequence[str] = ("out",),
    float16: bool = False,
) -> np.ndarray | dict[str, np.ndarray]:
    """Build a model with input ``x`` (batch first, rank 2 or 4), add layers with ``add(builder)``, run it.

    The layers read ``x`` (and any ``extra`` inputs by name) and write ``out`` (or ``outputs``).
    Returns the single output, or every output when several are named.
    """
    feeds = {"x": x, **dict(extra or {})}
    b = builder({name: value.shape[1:] for name, value in feeds.items()}, outputs)
    add(b)
    results = run(b.spec, feeds, float16=float16)
    return results[outputs[0]] if len(outputs) == 1 else results


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    """Standard normal float32 values."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def padding_amounts(pads: Sequence[int]) -> dict[str, int]:
    """The builder's ``padding_*`` arguments for amounts ``(top, bottom, left, right)``."""
    top, bottom, left, right = pads
    return {"padding_top": top, "padding_bottom": bottom, "padding_left": left, "padding_right": right}


def add_convolution(b: Any, weights: np.ndarray, *, input_name: str = "x", output_name: str = "c") -> None:
    """Add a stride-1, valid, bias-free convolution whose weights are in the builder's (kH, kW, Cin, Cout) layout."""
    kh, kw, cin, cout = weights.shape
    b.add_convolution("conv", cin, cout, kh, kw, 1, 1, "valid", 1, weights, None, False,
                      input_name=input_name, output_name=output_name)

