"""One network description, two graphs: a MIL program (coremltools' Builder) and an ONNX model.

A network is a function ``net(ops, x, weights)`` over the operations of :class:`MilOps` or
:class:`OnnxOps`, which build the same arithmetic in each format from the same weights: the MIL
side in the shapes ``ct.convert`` produces (batch 1, a leading 1 in every reshape), the ONNX side
with a free batch axis. The runtime's whole-network tests and ``benchmarks/mlprogram_runtime.py``
compare the two. :class:`Weights` draws He-scaled random weights, the same for both graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._runtime_onnx import OPSET


class Weights:
    """Deterministic random weights, drawn in call order (the same sequence for both graphs)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def conv(self, cout: int, cin: int, k: int) -> np.ndarray:
        scale = np.sqrt(2.0 / (cin * k * k))
        return (self.rng.standard_normal((cout, cin, k, k)) * scale).astype(np.float32)

    def dense(self, cout: int, cin: int) -> np.ndarray:
        return (self.rng.standard_normal((cout, cin)) / np.sqrt(cin)).astype(np.float32)

    def vector(self, n: int, centre: float = 0.0, spread: float = 0.1) -> np.ndarray:
        return (centre + spread * self.rng.standard_normal(n)).astype(np.float32)

    def bn(self, n: int) -> tuple[np.ndarray, ...]:
        """mean, variance, gamma, beta."""
        return self.vector(n), np.abs(self.vector(n, 1.0, 0.2)) + 0.1, self.vector(n, 1.0), self.vector(n)


class MilOps:
    """The operations, as MIL Builder calls (``mb``)."""

    def __init__(self) -> None:
        from coremltools.converters.mil import Builder as mb

        self.mb = mb

    def conv(self, x, w, b=None, stride=1, pad=0, groups=1):
        return self.mb.conv(
            x=x, weight=w, bias=b, strides=[stride, stride], pad_type="custom", pad=[pad] * 4, groups=groups
        )

    def batch_norm(self, x, stats, eps=1e-5):
        mean, var, gamma, beta = stats
        return self.mb.batch_norm(x=x, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=np.float32(eps))

    def relu(self, x):
        return self.mb.relu(x=x)

    def relu6(self, x):
        return self.mb.clip(x=x, alpha=np.float32(0), beta=np.float32(6))

    def sigmoid(self, x):
        return self.mb.sigmoid(x=x)

    def hard_sigmoid(self, x):
        return self.mb.sigmoid_hard(x=x, alpha=np.float32(1 / 6), beta=np.float32(0.5))

    def silu(self, x):
        return self.mb.silu(x=x)

    def gelu(self, x):
        return self.mb.gelu(x=x, mode="EXACT")

    def add(self, x, y):
        return self.mb.add(x=x, y=y)

    def mul(self, x, y):
        return self.mb.mul(x=x, y=y)

    def max_pool(self, x, k, stride, pad):
        return self.mb.max_pool(x=x, kernel_sizes=[k, k], strides=[stride, stride], pad_type="custom", pad=[pad] * 4)

    def global_pool(self, x):
        return self.mb.reduce_mean(x=x, axes=[-2, -1], keep_dims=True)

    def linear(self, x, w, b):
        return self.mb.linear(x=x, weight=w, bias=b)

    def reshape(self, x, shape):
        return self.mb.reshape(x=x, shape=list(shape))

    def transpose(self, x, perm):
        return self.mb.transpose(x=x, perm=list(perm))

    def layer_norm(self, x, gamma, beta, eps=1e-5):
        return self.mb.layer_norm(x=x, axes=[-1], gamma=gamma, beta=beta, epsilon=np.float32(eps))

    def matmul(self, x, y, transpose_y=False):
        return self.mb.matmul(x=x, y=y, transpose_y=transpose_y)

    def softmax(self, x, axis=-1):
        return self.mb.softmax(x=x, axis=axis)

    def scale(self, x, value):
        return self.mb.mul(x=x, y=np.float32(value))

    def reduce_mean(self, x, axis):
        return self.mb.reduce_mean(x=x, axes=[axis], keep_dims=False)


class OnnxOps:
    """The operations, as ONNX nodes (batch axis free)."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def const(self, value) -> str:
        name = self._name("c")
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attributes) -> str:
        out = self._name(op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], **attributes))
        return out

    def conv(self, x, w, b=None, stride=1, pad=0, groups=1):
        inputs = [x, self.const(w)] + ([self.const(b)] if b is not None else [])
        return self.node("Conv", inputs, strides=[stride, stride], pads=[pad] * 4, group=groups)

    def batch_norm(self, x, stats, eps=1e-5):
        mean, var, gamma, beta = stats
        return self.node(
            "BatchNormalization", [x, self.const(gamma), self.const(beta), self.const(mean), self.const(var)], epsilon=eps
        )

    def relu(self, x):
        return self.node("Relu", [x])

    def relu6(self, x):
        return self.node("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))])

    def sigmoid(self, x):
        return self.node("Sigmoid", [x])

    def hard_sigmoid(self, x):
        return self.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)

    def silu(self, x):
        return self.node("Mul", [x, self.node("Sigmoid", [x])])

    def gelu(self, x):
        erf = self.node("Erf", [self.node("Div", [x, self.const(np.float32(np.sqrt(2.0)))])])
        half = self.node("Mul", [x, self.const(np.float32(0.5))])
        return self.node("Mul", [half, self.node("Add", [erf, self.const(np.float32(1.0))])])

    def add(self, x, y):
        return self.node("Add", [x, y])

    def mul(self, x, y):
        return self.node("Mul", [x, y])

    def max_pool(self, x, k, stride, pad):
        return self.node("MaxPool", [x], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def global_pool(self, x):
        return self.node("GlobalAveragePool", [x])

    def linear(self, x, w, b):
        return self.node("Add", [self.node("MatMul", [x, self.const(np.ascontiguousarray(w.T))]), self.const(b)])

    def reshape(self, x, shape):
        target = [0 if i == 0 and n == 1 else n for i, n in enumerate(shape)]
        return self.node("Reshape", [x, self.const(np.int64(target))])

    def transpose(self, x, perm):
        return self.node("Transpose", [x], perm=list(perm))

    def layer_norm(self, x, gamma, beta, eps=1e-5):
        return self.node("LayerNormalization", [x, self.const(gamma), self.const(beta)], axis=-1, epsilon=eps)

    def matmul(self, x, y, transpose_y=False):
        if transpose_y:
            y = self.node("Transpose", [y], perm=[0, 1, 3, 2])
        return self.node("MatMul", [x, y])

    def softmax(self, x, axis=-1):
        return self.node("Softmax", [x], axis=axis)

    def scale(self, x, value):
        return self.node("Mul", [x, self.const(np.float32(value))])

    def reduce_mean(self, x, axis):
        return self.node("ReduceMean", [x, self.const(np.int64([axis]))], keepdims=0)


Net = Callable[[Any, Any, Weights], Any]


def mil_program(net: Net, shape: Sequence[int], seed: int, target: Any = None) -> Any:
    """The network as a MIL program with input ``x`` of ``shape`` (batch 1), for ``target`` (default iOS16)."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    ops = MilOps()

    @mb.program(input_specs=[mb.TensorSpec(shape=tuple(shape))], opset_version=target or ct.target.iOS16)
    def program(x):
        return net(ops, x, Weights(seed))

    return program


def onnx_model(net: Net, shape: Sequence[int], seed: int) -> Any:
    """The network as an ONNX model with input ``x`` of ``("B", *shape[1:])`` and output ``y`` (``(B, N)``)."""
    import onnx
    from onnx import TensorProto, helper

    ops = OnnxOps()
    out = net(ops, "x", Weights(seed))
    ops.nodes.append(helper.make_node("Flatten", [out], ["y"], axis=1))
    graph = helper.make_graph(
        ops.nodes,
        "twin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", *shape[1:]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "N"])],
        ops.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model
