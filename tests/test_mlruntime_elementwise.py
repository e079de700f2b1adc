"""The ML Program runtime's element-wise, comparison and activation kernels, against onnxruntime and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from . import _mil
from ._runtime_onnx import run_node

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _one(tmp_path, make, *inputs):
    return _mil.run(_mil.one_op(tmp_path, make, list(inputs)), list(inputs))


BINARY = [
    ("add", "Add"),
    ("sub", "Sub"),
    ("mul", "Mul"),
    ("real_div", "Div"),
    ("maximum", "Max"),
    ("minimum", "Min"),
    ("equal", "Equal"),
    ("less", "Less"),
    ("less_equal", "LessOrEqual"),
    ("greater", "Greater"),
    ("greater_equal", "GreaterOrEqual"),
]


class TestBinary:
    @pytest.mark.parametrize(("op", "onnx"), BINARY)
    @pytest.mark.parametrize(("xs", "ys"), [((1, 3, 4, 4), (1, 3, 1, 1)), ((1, 1, 4), (1, 5, 1)), ((1, 2, 3), (3,))])
    def test_broadcasting_matches_onnx(self, tmp_path, op, onnx, xs, ys):
        """Binary arithmetic and comparisons broadcast as numpy and ONNX do."""
        rng = np.random.default_rng(0)
        x, y = _rand(rng, *xs), np.round(_rand(rng, *ys), 1)
        x[..., :1] = y.reshape(-1)[0]  # some equal values for the comparisons
        (got,) = _one(tmp_path, lambda mb, a, b: getattr(mb, op)(x=a, y=b), x, y)
        from onnx import TensorProto, helper, numpy_helper

        want = _onnx_binary(onnx, x, y, helper, numpy_helper, TensorProto)
        assert got.shape == want.shape
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), **TOLERANCE)

    def test_constant_operand_and_scalar(self, tmp_path):
        """A constant operand (the converter's usual form) and a scalar broadcast too."""
        rng = np.random.default_rng(1)
        x, c = _rand(rng, 1, 3, 2, 2), _rand(rng, 3, 1, 1)
        (got,) = _one(tmp_path, lambda mb, a: mb.mul(x=mb.add(x=a, y=c), y=np.float32(0.5)), x)
        np.testing.assert_allclose(got, (x + c) * 0.5, **TOLERANCE)

    @pytest.mark.parametrize(("op", "fn"), [("pow", np.power), ("floor_div", np.floor_divide), ("mod", np.mod)])
    def test_other_arithmetic_matches_numpy(self, tmp_path, op, fn):
        """pow, floor_div and mod follow numpy's definitions."""
        rng = np.random.default_rng(2)
        x = np.abs(_rand(rng, 1, 2, 3)) + 0.5
        y = np.float32([1.5, 2.0, 3.0])
        (got,) = _one(tmp_path, lambda mb, a, b: getattr(mb, op)(x=a, y=b), x, y)
        np.testing.assert_allclose(got, fn(x, y), **TOLERANCE)

    def test_select_and_logical(self, tmp_path):
        """select takes a where cond is true, else b; logical ops combine comparisons."""
        rng = np.random.default_rng(3)
        x, y = _rand(rng, 1, 4, 3), _rand(rng, 1, 4, 3)

        def make(mb, a, b):
            cond = mb.logical_and(x=mb.greater(x=a, y=np.float32(0)), y=mb.less(x=b, y=np.float32(0.5)))
            return mb.select(cond=cond, a=a, b=b)

        (got,) = _one(tmp_path, make, x, y)
        np.testing.assert_allclose(got, np.where((x > 0) & (y < 0.5), x, y), **TOLERANCE)


def _onnx_binary(op, x, y, helper, numpy_helper, proto):
    node = helper.make_node(op, ["x", "y"], ["z"])
    out_type = proto.BOOL if op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual") else proto.FLOAT
    graph = helper.make_graph(
        [node],
        "binary",
        [helper.make_tensor_value_info("x", proto.FLOAT, x.shape), helper.make_tensor_value_info("y", proto.FLOAT, y.shape)],
        [helper.make_tensor_value_info("z", out_type, None)],
    )
    from ._runtime_onnx import OPSET, session

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return session(model).run(["z"], {"x": x, "y": y})[0]


UNARY = [
    ("abs", "Abs", None),
    ("exp", "Exp", None),
    ("sqrt", "Sqrt", "positive"),
    ("floor", "Floor", None),
    ("ceil", "Ceil", None),
    ("sin", "Sin", None),
    ("cos", "Cos", None),
    ("tanh", "Tanh", None),
    ("erf", "Erf", None),
    ("sign", "Sign", None),

    ("relu", "Relu", None),
    ("sigmoid", "Sigmoid", None),
    ("softplus", "Softplus", None),
    ("softsign", "Softsign", None),
]


class TestUnary:
    @pytest.mark.parametrize(("op", "onnx", "domain"), UNARY)
    def test_matches_onnx(self, tmp_path, op, onnx, domain):
        """Each unary math op and parameterless activation equals its ONNX operator."""
        rng = np.random.default_rng(4)
        x = _rand(rng, 1, 3, 4, 5) * 3
        if domain == "positive":
            x = np.abs(x) + 0.01
        (got,) = _one(tmp_path, lambda mb, a: getattr(mb, op)(x=a), x)
        want = run_node(onnx, {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize(("op", "fn"), [("log", np.log), ("rsqrt", lambda v: 1 / np.sqrt(v)), ("inverse", lambda v: 1 / v)])
    def test_epsilon_is_added_first(self, tmp_path, op, fn):
        """log, rsqrt and inverse compute on x + epsilon."""
        x = np.float32([[0.5, 1.0, 2.0, 4.0]])
        (got,) = _one(tmp_path, lambda mb, a: getattr(mb, op)(x=a, epsilon=np.float32(0.25)), x)
        np.testing.assert_allclose(got, fn(x + np.float32(0.25)), **TOLERANCE)

    def test_single_element_tensor(self, tmp_path):
        """Edge shape: a (1, 1) tensor goes through exp and relu."""
        x = np.float32([[-0.5]])
        (got,) = _one(tmp_path, lambda mb, a: mb.relu(x=mb.exp(x=a)), x)
        np.testing.assert_allclose(got, np.exp(x), **TOLERANCE)


class TestActivations:
    @pytest.mark.parametrize(
        ("op", "params", "onnx", "attributes"),
        [
            ("leaky_relu", {"alpha": 0.2}, "LeakyRelu", {"alpha": 0.2}),
            ("elu", {"alpha": 0.7}, "Elu", {"alpha": 0.7}),
            ("thresholded_relu", {"alpha": 0.3}, "ThresholdedRelu", {"alpha": 0.3}),
            ("sigmoid_hard", {"alpha": 0.2, "beta": 0.5}, "HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
            ("clip", {"alpha": -0.5, "beta": 0.7}, None, None),
            ("relu6", {}, None, None),
        ],
    )
    def test_parameterised_activations(self, tmp_path, op, params, onnx, attributes):
        """Activations with alpha and beta equal ONNX's, clip and relu6 equal numpy's clip."""
        rng = np.random.default_rng(5)
        x = _rand(rng, 1, 3, 4, 4) * 4
        consts = {k: np.float32(v) for k, v in params.items()}
        (got,) = _one(tmp_path, lambda mb, a: getattr(mb, op)(x=a, **consts), x)
        if onnx:
            want = run_node(onnx, {"x": x}, attributes)[0]
        elif op == "clip":
            want = np.clip(x, -0.5, 0.7)
        else:
            want = np.clip(x, 0, 6)
        np.testing.assert_allclose(got, want, **TOLERANCE)

    def test_silu_is_x_times_sigmoid(self, tmp_path):
        """silu(x) = x * sigmoid(x)."""
        x = np.linspace(-6, 6, 24, dtype=np.float32).reshape(1, 2, 12)
        (got,) = _one(tmp_path, lambda mb, a: mb.silu(x=a), x)
        np.testing.assert_allclose(got, x * special.expit(x), **TOLERANCE)

    @pytest.mark.parametrize("mode", ["EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION"])
    def test_gelu_modes(self, tmp_path, mode):
        """gelu follows each mode's formula (EXACT with erf, the tanh and sigmoid approximations)."""
        x = np.linspace(-5, 5, 30, dtype=np.float64).reshape(1, 3, 10)
        (got,) = _one(tmp_path, lambda mb, a: mb.gelu(x=a, mode=mode), x.astype(np.float32))
        if mode == "EXACT":
            want = 0.5 * x * (1 + special.erf(x / np.sqrt(2)))
        elif mode == "TANH_APPROXIMATION":
            want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
        else:
            want = x * special.expit(1.702 * x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    def test_prelu_matches_onnx(self, tmp_path):
        """prelu applies one alpha per channel (axis 1)."""
        rng = np.random.default_rng(6)
        x, alpha = _rand(rng, 1, 3, 4, 4), np.float32([0.1, 0.5, -0.2])
        (got,) = _one(tmp_path, lambda mb, a: mb.prelu(x=a, alpha=alpha), x)
        want = run_node("PRelu", {"x": x}, constants={"slope": alpha.reshape(3, 1, 1)})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)

    @pytest.mark.parametrize("axis", [-1, 1])
    def test_softmax_matches_onnx(self, tmp_path, axis):
        """softmax along an axis equals ONNX Softmax (opset 13 semantics, one axis)."""
        rng = np.random.default_rng(7)
        x = _rand(rng, 1, 4, 5) * 5
        (got,) = _one(tmp_path, lambda mb, a: mb.softmax(x=a, axis=axis), x)
        want = run_node("Softmax", {"x": x}, {"axis": axis})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)
