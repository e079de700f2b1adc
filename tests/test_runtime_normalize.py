"""The reference runtime's normalization layers, against onnxruntime and hand-written numpy."""

from __future__ import annotations

import numpy as np
import pytest

from . import _runtime_models as rm
from ._runtime_onnx import run_node

RNG = np.random.default_rng(0)
X = rm.normal(RNG, 3, 4, 5, 6, scale=2.0) + 1.0
GAMMA, BETA = rm.normal(RNG, 4), rm.normal(RNG, 4)
MEAN, VARIANCE = rm.normal(RNG, 4), np.abs(rm.normal(RNG, 4)) + 0.5


def batchnorm(x=X, **kwargs):
    """Run one batchnorm layer."""
    return rm.one_layer(
        lambda b: b.add_batchnorm("bn", 4, GAMMA, BETA, MEAN, VARIANCE, "x", "out", **kwargs), x
    )


class TestBatchnorm:
    """batchnorm normalizes each channel with given or computed statistics."""

    def test_given_statistics(self):
        """With stored mean and variance it equals ONNX BatchNormalization."""
        expected = run_node(
            "BatchNormalization",
            {"x": X},
            {"epsilon": 1e-3},
            constants={"g": GAMMA, "b": BETA, "m": MEAN, "v": VARIANCE},
        )[0]
        np.testing.assert_allclose(batchnorm(epsilon=1e-3), expected, rtol=1e-5, atol=1e-5)

    def test_default_epsilon(self):
        """An epsilon of 0 means 1e-5."""
        b = rm.builder({"x": (4, 5, 6)})
        b.add_batchnorm("bn", 4, GAMMA, BETA, MEAN, VARIANCE, "x", "out")
        b.spec.neuralNetwork.layers[0].batchnorm.epsilon = 0.0
        expected = (X - MEAN.reshape(4, 1, 1)) / np.sqrt(VARIANCE.reshape(4, 1, 1) + 1e-5)
        expected = expected * GAMMA.reshape(4, 1, 1) + BETA.reshape(4, 1, 1)
        np.testing.assert_allclose(rm.run(b.spec, {"x": X})["out"], expected, rtol=1e-5, atol=1e-5)

    def test_instance_normalization(self):
        """computeMeanVar with instanceNormalization equals ONNX InstanceNormalization."""
        got = batchnorm(compute_mean_var=True, instance_normalization=True, epsilon=1e-4)
        expected = run_node(
            "InstanceNormalization", {"x": X}, {"epsilon": 1e-4}, constants={"g": GAMMA, "b": BETA}
        )[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)

    def test_batch_statistics(self):
        """computeMeanVar without instanceNormalization takes each channel's statistics over the whole batch."""
        x = rm.normal(np.random.default_rng(1), 40, 4, 3, 3)
        b = rm.builder({"x": (4, 3, 3)})
        b.add_batchnorm(
            "bn",
            4,
            GAMMA,
            BETA,
            None,
            None,
            "x",
            "out",
            compute_mean_var=True,
            instance_normalization=True,
            epsilon=1e-4,
        )
        b.spec.neuralNetwork.layers[0].batchnorm.instanceNormalization = False  # the builder refuses this
        got = rm.run(b.spec, {"x": x})["out"]
        expected = np.empty_like(x, dtype=np.float64)
        for c in range(4):
            values = x[:, c].astype(np.float64)
            expected[:, c] = (values - values.mean()) / np.sqrt(values.var() + 1e-4) * GAMMA[c] + BETA[c]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


class TestMeanVarianceNormalize:
    """mvn subtracts the mean and optionally divides by the standard deviation."""

    @pytest.mark.parametrize("across", [True, False])
    @pytest.mark.parametrize("variance", [True, False])
    def test_mvn(self, across, variance):
        """Statistics run over C, H, W (acrossChannels) or over H, W per channel."""
        got = rm.one_layer(lambda b: b.add_mvn("mvn", "x", "out", across, variance, 1e-3), X)
        x = X.astype(np.float64)
        axes = (1, 2, 3) if across else (2, 3)
        expected = x - x.mean(axis=axes, keepdims=True)
        if variance:
            expected /= np.sqrt(x.var(axis=axes, keepdims=True) + 1e-3)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


class TestL2Normalize:
    """l2normalize divides each item by the square root of its sum of squares plus epsilon."""

    def test_l2normalize(self):
        """Each item's C*H*W values end up with unit norm (up to epsilon)."""
        got = rm.one_layer(lambda b: b.add_l2_normalize("l2", "x", "out", 1e-2), X)
        x = X.astype(np.float64)
        expected = x / np.sqrt((x**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-2)
        np.testing.assert_allclose(got, expected, rtol=1e-5)


class TestLRN:
    """lrn divides by (k + alpha / size * sum of squares over neighbouring channels) ** beta."""

    @pytest.mark.parametrize("size", [1, 3, 5])
    def test_matches_onnx(self, size):
        """Odd window sizes match ONNX LRN."""
        x = rm.normal(np.random.default_rng(2), 2, 7, 4, 3)
        got = rm.one_layer(
            lambda b: b.add_lrn("lrn", "x", "out", alpha=0.3, beta=0.75, local_size=size, k=2.0), x
        )
        expected = run_node("LRN", {"x": x}, {"alpha": 0.3, "beta": 0.75, "bias": 2.0, "size": size})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_even_size(self):
        """An even window reaches one channel further after than before, as ONNX's formula says."""
        x = rm.normal(np.random.default_rng(3), 2, 6, 2, 3)
        got = rm.one_layer(
            lambda b: b.add_lrn("lrn", "x", "out", alpha=0.5, beta=0.6, local_size=4, k=1.5), x
        )
        expected = np.empty(x.shape)
        for c in range(6):
            window = x[:, max(0, c - 1) : min(6, c + 3)].astype(np.float64)  # c - 1 .. c + 2
            expected[:, c] = x[:, c] / (1.5 + 0.5 / 4 * (window**2).sum(axis=1)) ** 0.6
        np.testing.assert_allclose(got, expected, rtol=1e-5)

    def test_coremltools_known_answer(self):
        """coremltools' own LRN example: ones with alpha 2, beta 3, size 1, k 8 give 1e-3."""
        got = rm.one_layer(
            lambda b: b.add_lrn("lrn", "x", "out", alpha=2, beta=3, local_size=1, k=8), np.ones((1, 1, 3, 3))
        )
        np.testing.assert_allclose(got, 1e-3, rtol=1e-6)


class TestSoftmax:
    """softmax normalizes exponentials along the channel axis."""

    def test_softmax(self):
        """Each pixel's channel values become exp(x) / sum(exp(x)), also for large inputs."""
        x = X * 100
        got = rm.one_layer(lambda b: b.add_softmax("sm", "x", "out"), x)
        shifted = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(got, shifted / shifted.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-30)
