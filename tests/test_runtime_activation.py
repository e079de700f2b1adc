"""The reference runtime's activations, against their NeuralNetwork.proto formulas in numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from . import _runtime_models as rm

X = np.linspace(-6, 6, 2 * 4 * 3 * 5, dtype=np.float32).reshape(2, 4, 3, 5)
ALPHA = np.array([0.5, -0.25, 2.0, 0.1], dtype=np.float32)
BETA = np.array([1.5, 0.5, -1.0, 3.0], dtype=np.float32)


def activation(kind, params=None, x=X):
    """Run one activation layer in the runtime."""
    return rm.one_layer(lambda b: b.add_activation("act", kind, "x", "out", params), x)


def elementwise(function, x=X):
    """Apply a scalar function to every value, in double precision."""
    return np.vectorize(function, otypes=[np.float64])(x.astype(np.float64))


def per_channel(function, x=X):
    """Apply ``function(value, channel)`` to every value."""
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = function(float(x[index]), index[1])
    return out


class TestActivations:
    """Every ActivationParams kind computes its formula."""

    @pytest.mark.parametrize(
        ("kind", "params", "function"),
        [
            ("LINEAR", [2.0, -1.0], lambda v: 2 * v - 1),
            ("RELU", None, lambda v: max(0.0, v)),
            ("LEAKYRELU", [0.2], lambda v: v if v >= 0 else 0.2 * v),
            ("THRESHOLDEDRELU", 1.5, lambda v: v if v >= 1.5 else 0.0),
            ("TANH", None, math.tanh),
            ("SCALED_TANH", [1.7, 0.6], lambda v: 1.7 * math.tanh(0.6 * v)),
            ("SIGMOID", None, lambda v: 1 / (1 + math.exp(-v))),
            ("SIGMOID_HARD", [0.2, 0.5], lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0)),
            ("ELU", 0.7, lambda v: v if v >= 0 else 0.7 * (math.exp(v) - 1)),
            ("SOFTSIGN", None, lambda v: v / (1 + abs(v))),
            ("SOFTPLUS", None, lambda v: math.log(1 + math.exp(v))),
        ],
    )
    def test_scalar_activation(self, kind, params, function):
        """Activations with scalar parameters match the formula value by value."""
        np.testing.assert_allclose(activation(kind, params), elementwise(function), rtol=2e-6, atol=2e-7)

    def test_prelu_per_channel(self):
        """PReLU scales negatives by each channel's alpha."""
        expected = per_channel(lambda v, c: v if v >= 0 else ALPHA[c] * v)
        np.testing.assert_allclose(activation("PRELU", ALPHA), expected, rtol=1e-6, atol=1e-7)

    def test_prelu_single_alpha(self):
        """PReLU with one alpha applies it to every channel."""
        expected = elementwise(lambda v: v if v >= 0 else 0.3 * v)
        np.testing.assert_allclose(activation("PRELU", np.array([0.3], np.float32)), expected, rtol=1e-6)

    def test_parametric_softplus(self):
        """Parametric softplus is ``alpha_c * log(1 + exp(beta_c * x))`` per channel."""
        expected = per_channel(lambda v, c: ALPHA[c] * math.log(1 + math.exp(BETA[c] * v)))
        got = activation("PARAMETRICSOFTPLUS", [ALPHA, BETA])
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)

    def test_extremes_do_not_overflow(self):
        """Sigmoid, softplus and ELU stay finite and exact at large magnitudes."""
        x = np.array([[-1000.0, -90.0, -20.0, 90.0, 1000.0]], dtype=np.float32)
        with np.errstate(over="raise", invalid="raise"):
            sigmoid = activation("SIGMOID", x=x).ravel()
            softplus = activation("SOFTPLUS", x=x).ravel()
            elu = activation("ELU", 1.0, x=x).ravel()
        np.testing.assert_allclose(sigmoid, [0, 0, 2.0611536e-09, 1, 1], rtol=1e-6, atol=1e-38)
        np.testing.assert_allclose(softplus, [0, 0, 2.0611537e-09, 90, 1000], rtol=1e-6, atol=1e-38)
        np.testing.assert_allclose(elu, [-1, -1, -1, 90, 1000], rtol=1e-6)


class TestInPlace:
    """Activations write in place only into memory nothing else reads."""

    def test_input_read_by_two_layers(self):
        """A blob read by two activations reaches the second one unchanged."""

        def add(b):
            b.add_activation("relu", "RELU", "x", "a")
            b.add_activation("tanh", "TANH", "x", "t")
            b.add_elementwise("y", ["a", "t"], "out", "ADD")

        got = rm.one_layer(add, X)
        np.testing.assert_allclose(
            got, np.maximum(X, 0) + np.tanh(X.astype(np.float64)), rtol=1e-6, atol=1e-6
        )

    def test_feed_is_not_modified(self):
        """Running a network never writes into the caller's arrays."""
        x = X.copy()
        rm.one_layer(lambda b: b.add_activation("relu", "RELU", "x", "out"), x)
        np.testing.assert_array_equal(x, X)

    def test_chain_of_activations(self):
        """Consecutive activations (the later ones in place) compose."""

        def add(b):
            b.add_activation("a", "LINEAR", "x", "a", [1.0, -1.0])
            b.add_activation("b", "RELU", "a", "b")
            b.add_activation("c", "LINEAR", "b", "out", [2.0, 0.0])

        np.testing.assert_allclose(rm.one_layer(add, X), 2 * np.maximum(X - 1, 0), rtol=1e-6)
