"""The reference runtime's element-wise layers, against hand-written numpy."""

from __future__ import annotations

import numpy as np
import pytest

from . import _runtime_models as rm

RNG = np.random.default_rng(0)
A = rm.normal(RNG, 2, 4, 3, 5)
B = rm.normal(RNG, 2, 4, 3, 5)
C = rm.normal(RNG, 2, 4, 3, 5)


def combine(mode, inputs, alpha=None):
    """Run one elementwise layer over named inputs ``x`` (first), ``y``, ``z``."""
    names = ["x", "y", "z"][: len(inputs)]
    extra = dict(zip(names[1:], inputs[1:], strict=True))
    layer = names if len(names) > 1 else "x"
    return rm.one_layer(lambda b: b.add_elementwise("op", layer, "out", mode, alpha), inputs[0], extra=extra)


class TestCombining:
    """add, multiply, average, max and min combine inputs value by value."""

    @pytest.mark.parametrize(
        ("mode", "function"),
        [
            ("ADD", lambda a, b, c: a + b + c),
            ("MULTIPLY", lambda a, b, c: a * b * c),
            ("AVE", lambda a, b, c: (a + b + c) / 3),
            ("MAX", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
            ("MIN", lambda a, b, c: np.minimum(np.minimum(a, b), c)),
        ],
    )
    def test_three_inputs(self, mode, function):
        """Three same-shaped inputs combine element by element."""
        np.testing.assert_allclose(combine(mode, [A, B, C]), function(A, B, C), rtol=1e-6, atol=1e-7)

    @pytest.mark.parametrize(("mode", "expected"), [("ADD", A + 1.5), ("MULTIPLY", A * 1.5)])
    def test_single_input_alpha(self, mode, expected):
        """With one input, add adds alpha and multiply scales by it."""
        np.testing.assert_allclose(combine(mode, [A], alpha=1.5), expected, rtol=1e-6)

    @pytest.mark.parametrize("shape", [(1, 1, 1), (4, 1, 1), (1, 3, 5)])
    def test_broadcasting(self, shape):
        """Inputs shaped [1, 1, 1], [C, 1, 1] or [1, H, W] broadcast against [C, H, W]."""
        small = rm.normal(np.random.default_rng(1), 2, *shape)
        np.testing.assert_allclose(combine("ADD", [A, small]), A + small, rtol=1e-6)
        np.testing.assert_allclose(combine("MULTIPLY", [A, small]), A * small, rtol=1e-6)


class TestDot:
    """dot multiplies two vectors channel by channel and sums."""

    def test_dot_product(self):
        """The result is one value per item: the sum over channels of x * y."""
        x, y = rm.normal(RNG, 3, 6), rm.normal(RNG, 3, 6)
        got = combine("DOT", [x, y])
        expected = [sum(float(x[n, i]) * float(y[n, i]) for i in range(6)) for n in range(3)]
        np.testing.assert_allclose(got.reshape(3), expected, rtol=1e-5)

    def test_cosine_similarity(self):
        """With cosineSimilarity the vectors are normalized first."""
        x, y = rm.normal(RNG, 3, 6), rm.normal(RNG, 3, 6)
        got = combine("COS", [x, y])
        expected = [np.dot(x[n], y[n]) / np.linalg.norm(x[n]) / np.linalg.norm(y[n]) for n in range(3)]
        np.testing.assert_allclose(got.reshape(3), expected, rtol=1e-5)


class TestScaleAndBias:
    """scale and bias broadcast parameters of shape [1], [C], [1, H, W] or [C, H, W]."""

    @pytest.mark.parametrize("shape", [[1], [4], [1, 3, 5], [4, 3, 5]])
    def test_scale_with_bias(self, shape):
        """scale multiplies by its parameter and adds its bias, each broadcast from its own shape."""
        w, b = rm.normal(RNG, *shape), rm.normal(RNG, *shape)
        got = rm.one_layer(
            lambda m: m.add_scale("s", w, b, True, "x", "out", shape_scale=shape, shape_bias=shape), A
        )
        full = (shape[0], 1, 1) if len(shape) == 1 else tuple(shape)
        np.testing.assert_allclose(got, A * w.reshape(full) + b.reshape(full), rtol=1e-6, atol=1e-6)

    def test_scale_without_bias(self):
        """Without hasBias, scale only multiplies."""
        w = rm.normal(RNG, 4)
        got = rm.one_layer(lambda m: m.add_scale("s", w, None, False, "x", "out", shape_scale=[4]), A)
        np.testing.assert_allclose(got, A * w.reshape(4, 1, 1), rtol=1e-6)

    @pytest.mark.parametrize("shape", [[1], [4], [1, 3, 5], [4, 3, 5]])
    def test_bias(self, shape):
        """bias adds its parameter, broadcast from its shape."""
        b = rm.normal(RNG, *shape)
        got = rm.one_layer(lambda m: m.add_bias("b", b, "x", "out", shape_bias=shape), A)
        full = (shape[0], 1, 1) if len(shape) == 1 else tuple(shape)
        np.testing.assert_allclose(got, A + b.reshape(full), rtol=1e-6)


POSITIVE = np.abs(A) + 0.1


class TestUnary:
    """unary applies f(scale * x + shift) for each of its eight functions."""

    @pytest.mark.parametrize(
        ("mode", "alpha", "function"),
        [
            ("sqrt", 1.0, np.sqrt),
            ("rsqrt", 1.0, lambda v: 1 / np.sqrt(v + 1e-3)),
            ("inverse", 1.0, lambda v: 1 / (v + 1e-3)),
            ("power", 3.0, lambda v: v**3),
            ("exp", 1.0, np.exp),
            ("log", 1.0, np.log),
            ("abs", 1.0, np.abs),
            ("threshold", 0.9, lambda v: np.maximum(v, 0.9)),
        ],
    )
    def test_functions_with_shift_and_scale(self, mode, alpha, function):
        """Each function applies to the shifted and scaled input, with its epsilon where it has one."""
        got = rm.one_layer(
            lambda b: b.add_unary("u", "x", "out", mode, alpha=alpha, shift=0.25, scale=0.5, epsilon=1e-3),
            POSITIVE,
        )
        expected = function(0.5 * POSITIVE.astype(np.float64) + 0.25)
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-7)

    def test_defaults_when_zero(self):
        """A scale of 0 means 1 and an epsilon of 0 means 1e-6, as NeuralNetwork.proto says."""
        b = rm.builder({"x": (4, 3, 5)})
        b.add_unary("u", "x", "out", "inverse")
        params = b.spec.neuralNetwork.layers[0].unary
        params.scale, params.epsilon, params.shift = 0.0, 0.0, 0.0
        got = rm.run(b.spec, {"x": POSITIVE})["out"]
        np.testing.assert_allclose(got, 1 / (POSITIVE.astype(np.float64) + 1e-6), rtol=1e-6)
