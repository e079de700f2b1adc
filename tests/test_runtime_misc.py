"""The reference runtime's reduce, embedding and loadConstant layers, against hand-written numpy."""

from __future__ import annotations

import numpy as np
import pytest

from . import _runtime_models as rm

RNG = np.random.default_rng(0)
X = np.abs(rm.normal(RNG, 2, 3, 4, 5)) + 0.5

AXES = {"CHW": (1, 2, 3), "HW": (2, 3), "C": (1,), "H": (2,), "W": (3,)}
MODES = {
    "sum": lambda v: v.sum(),
    "avg": lambda v: v.mean(),
    "prod": lambda v: v.prod(),
    "logsum": lambda v: np.log(v + 1e-3).sum(),
    "sumsquare": lambda v: (v**2).sum(),
    "L1": lambda v: np.abs(v).sum(),
    "L2": lambda v: np.sqrt((v**2).sum()),
    "max": lambda v: v.max(),
    "min": lambda v: v.min(),
}


def reduce_by_hand(x, axes, function):
    """Reduce each group of values along ``axes`` with ``function``, keeping the axes with size 1."""
    shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    out = np.empty(shape)
    for index in np.ndindex(shape):
        key = tuple(slice(None) if i in axes else k for i, k in enumerate(index))
        out[index] = function(x[key].astype(np.float64))
    return out


class TestReduce:
    """reduce applies its operation over C, H, W or their combinations, keeping the axes."""

    @pytest.mark.parametrize("axis", list(AXES))
    @pytest.mark.parametrize("mode", list(MODES))
    def test_modes_and_axes(self, axis, mode):
        """Every mode over every axis option matches a loop over the groups."""
        x = X[:, :, :2, :3] if mode == "prod" else X
        got = rm.one_layer(lambda b: b.add_reduce("r", "x", "out", axis, mode, epsilon=1e-3), x)
        np.testing.assert_allclose(got, reduce_by_hand(x, AXES[axis], MODES[mode]), rtol=2e-5)

    @pytest.mark.parametrize("axis", ["C", "H", "W"])
    def test_argmax(self, axis):
        """ARGMAX gives the index of the maximum along one axis."""
        got = rm.one_layer(lambda b: b.add_reduce("r", "x", "out", axis, "argmax"), X)
        np.testing.assert_array_equal(got, reduce_by_hand(X, AXES[axis], lambda v: float(np.argmax(v))))


class TestEmbedding:
    """embedding looks up a column of its weight matrix per index, plus the bias."""

    def test_lookup(self):
        """Index i gives W[:, i] + b."""
        w, b = rm.normal(RNG, 4, 6), rm.normal(RNG, 4)
        ids = np.array([[3], [0], [5]], dtype=np.float32)
        got = rm.one_layer(lambda m: m.add_embedding("e", w, b, 6, 4, True, "x", "out"), ids)
        np.testing.assert_allclose(
            got[:, :, 0, 0], np.stack([w[:, 3] + b, w[:, 0] + b, w[:, 5] + b]), rtol=1e-6
        )

    @pytest.mark.reference_only("the reference runtime's own DataError for an index outside the table")
    def test_out_of_range_index(self):
        """An index outside the vocabulary is a DataError naming the layer."""
        import mlquant

        w = rm.normal(RNG, 4, 6)
        with pytest.raises(mlquant.DataError, match="layer 'e'"):
            rm.one_layer(lambda m: m.add_embedding("e", w, None, 6, 4, False, "x", "out"), np.array([[6.0]]))


class TestLoadConstant:
    """loadConstant provides its [C, H, W] data, broadcast against the batch."""

    def test_constant_added_to_input(self):
        """coremltools' example: a loaded constant added to the input; the constant survives repeated runs."""
        constant = np.arange(5, 9, dtype=np.float32).reshape(1, 2, 2)
        b = rm.builder({"x": (1, 2, 2)})
        b.add_load_constant("c", "k", constant, [1, 2, 2])
        b.add_activation("relu", "RELU", "k", "r")
        b.add_elementwise("add", ["x", "r"], "out", "ADD")
        net = rm.network(b.spec)
        x = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
        for _ in range(2):
            np.testing.assert_array_equal(net.run({"x": x})["out"], x + constant)
