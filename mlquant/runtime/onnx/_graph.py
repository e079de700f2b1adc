"""An ONNX graph under construction: what every translator writes into.

A translator walks a model (NeuralNetwork layers or MIL operations) and calls :meth:`Graph.node`
once per ONNX operator, :meth:`Graph.constant` for every weight, and :meth:`Graph.input` /
:meth:`Graph.output` for the model's interface. Names are the translator's choice; :meth:`fresh`
gives names that cannot collide with the model's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["OPSET", "Graph"]

#: The ONNX opset every translation targets (onnxruntime 1.17 and later run it).
OPSET = 19

#: numpy dtype -> ONNX ``TensorProto`` element type name.
_ELEMENT = {
    np.dtype(np.float32): "FLOAT",
    np.dtype(np.float16): "FLOAT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.int8): "INT8",
}


def element_type(dtype: Any) -> int:
    """The ONNX element type of a numpy dtype."""
    from onnx import TensorProto

    return int(getattr(TensorProto, _ELEMENT[np.dtype(dtype)]))


class Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph, built in order.

    Args:
        name: The graph's name.
    """

    def __init__(self, name: str = "mlquant") -> None:
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0
        self._constants: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def fresh(self, hint: str = "t") -> str:
        """A name no other call returns (and no model name takes: it starts with ``_``)."""
        self._count += 1
        return f"_{hint}_{self._count}"

    def input(self, name: str, dtype: Any, shape: Sequence[int | str | None]) -> str:
        """Declare a graph input; ``str`` or None dimensions are symbolic (``"B"`` for the batch)."""
        from onnx import helper

        self.inputs.append(helper.make_tensor_value_info(name, element_type(dtype), list(shape)))
        return name

    def output(self, name: str, dtype: Any = np.float32, shape: Sequence[int | str | None] | None = None) -> str:
        """Declare ``name`` (a value some node computes) a graph output."""
        from onnx import helper

        self.outputs.append(helper.make_tensor_value_info(name, element_type(dtype), None if shape is None else list(shape)))
        return name

    def constant(self, value: Any, dtype: Any = None, hint: str = "c") -> str:
        """An initializer holding ``value``; equal constants share one initializer."""
        from onnx import numpy_helper

        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        key = (array.dtype.str, array.tobytes(), array.shape)
        if key not in self._constants:
            name = self.fresh(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        outputs: int | Sequence[str] = 1,
        *,
        name: str | None = None,
        **attributes: Any,
    ) -> list[str]:
        """Append one operator; returns its output names (fresh ones when ``outputs`` is a count).

        An empty string in ``inputs`` skips an optional input, as in ONNX.
        """
        from onnx import helper

        names = [self.fresh(op.lower()) for _ in range(outputs)] if isinstance(outputs, int) else list(outputs)
        self.nodes.append(helper.make_node(op, list(inputs), names, name=name or names[0], **attributes))
        return names

    def one(self, op: str, inputs: Sequence[str], output: str | None = None, **attributes: Any) -> str:
        """Append an operator with one output and return that output's name."""
        return self.node(op, inputs, 1 if output is None else [output], **attributes)[0]

    def round_fp16(self, value: str, output: str | None = None) -> str:
        """Round a float32 value to the nearest float16 and back, as an fp16 tensor stores it."""
        from onnx import TensorProto

        half = self.one("Cast", [value], to=TensorProto.FLOAT16)
        return self.one("Cast", [half], output, to=TensorProto.FLOAT)

    def model(self) -> Any:
        """The finished ``ModelProto`` (onnxruntime checks it when it builds a session)."""
        from onnx import helper

        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mlquant")
        proto.ir_version = min(proto.ir_version, 9)
        return proto
