"""Quantizer strategies, checked against coremltools, scikit-learn and hand-computed values."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mlquant
from mlquant.errors import QuantizationError, SettingsError
from mlquant.quantize import from_name
from mlquant.testing import check_quantizer

BUILT_IN = [
    mlquant.Float16Quantizer(),
    *[mlquant.LinearQuantizer(nbits=n) for n in range(1, 9)],
    *[mlquant.LinearQuantizer(nbits=n, symmetric=True) for n in range(2, 9)],
    *[mlquant.LinearLUTQuantizer(nbits=n) for n in range(1, 9)],
    *[mlquant.KMeansLUTQuantizer(nbits=n) for n in range(1, 9)],
]


class PowerOfTwoLUT(mlquant.LUTQuantizer):
    """A user-written table: signed powers of two, nearest entry per weight."""

    def lut(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = 2 ** (self.nbits - 1)
        top = np.ceil(np.log2(np.abs(values).max()))
        magnitudes = 2.0 ** (top - np.arange(half))
        table = np.concatenate([magnitudes, -magnitudes])
        indices = np.abs(values.reshape(-1, 1) - table).argmin(axis=1)
        return table, indices


class TestConformance:
    @pytest.mark.parametrize("quantizer", BUILT_IN, ids=lambda q: q.name)
    def test_built_in(self, quantizer: mlquant.Quantizer) -> None:
        """Every built-in quantizer passes the shared conformance check."""
        check_quantizer(quantizer)

    @pytest.mark.parametrize("quantizer", BUILT_IN, ids=lambda q: q.name)
    def test_constants_survive(self, quantizer: mlquant.Quantizer) -> None:
        """Every built-in stores a constant tensor exactly (to float16 precision for float16)."""
        values = np.full((3, 4), -1.25, dtype=np.float32)
        np.testing.assert_array_equal(quantizer.quantize(values, channel_axis=0).dequantize(), values)

    def test_user_subclass(self) -> None:
        """A user's LUTQuantizer subclass passes the same check."""
        check_quantizer(PowerOfTwoLUT(nbits=3))


class TestSettings:
    @pytest.mark.parametrize("nbits", [0, 9, 12, 16, -1, 2.5, True, "4"])
    def test_nbits_out_of_range(self, nbits: object) -> None:
        """nbits outside 1-8 is a SettingsError naming the class and the value."""
        with pytest.raises(SettingsError, match=r"KMeansLUTQuantizer: nbits must be an integer 1-8"):
            mlquant.KMeansLUTQuantizer(nbits=nbits)  # type: ignore[arg-type]

    def test_evolve_validates_again(self) -> None:
        """attrs.evolve builds a changed copy and validates it."""
        q = mlquant.LinearQuantizer(nbits=4)
        assert attrs.evolve(q, nbits=6) == mlquant.LinearQuantizer(nbits=6)
        with pytest.raises(SettingsError):
            attrs.evolve(q, nbits=12)

    def test_symmetric_needs_two_bits(self) -> None:
        """Symmetric linear quantization has no 1-bit form."""
        with pytest.raises(SettingsError, match="symmetric mode needs nbits 2-8"):
            mlquant.LinearQuantizer(nbits=1, symmetric=True)

    def test_names_and_registry(self) -> None:
        """from_name builds the coremltools-named strategies; 16 bits always means float16."""
        assert from_name("kmeans_lut", 6) == mlquant.KMeansLUTQuantizer(nbits=6)
        assert from_name("linear_symmetric", 8) == mlquant.LinearQuantizer(nbits=8, symmetric=True)
        assert from_name("linear_lut", 16) == mlquant.Float16Quantizer()
        assert mlquant.KMeansLUTQuantizer(nbits=6).name == "kmeans_lut_6"
        with pytest.raises(SettingsError, match="known methods: linear, linear_lut, kmeans_lut"):
            from_name("kmeans", 4)
        with pytest.raises(SettingsError, match=r"nbits must be 1-8 or 16 \(got 12\)"):
            from_name("linear", 12)


class TestLinear:
    def test_hand_computed(self) -> None:
        """2-bit asymmetric: [0, 1, 2, 3] maps onto scale 1, bias 0; [0, 0.4, 3] rounds 0.4 down."""
        result = mlquant.LinearQuantizer(nbits=2).quantize(np.array([[0.0, 0.4, 3.0]]), channel_axis=0)
        np.testing.assert_array_equal(result.indices, [[0, 0, 3]])
        np.testing.assert_array_equal(result.scale, [1.0])
        np.testing.assert_array_equal(result.bias, [0.0])

    def test_per_channel(self) -> None:
        """Each output channel gets its own range."""
        values = np.array([[0.0, 1.0], [10.0, 30.0]])
        result = mlquant.LinearQuantizer(nbits=1).quantize(values, channel_axis=0)
        np.testing.assert_array_equal(result.scale, [1.0, 20.0])
        np.testing.assert_array_equal(result.dequantize(), values)

    @settings(max_examples=60, deadline=None)
    @given(
        st.integers(1, 8),
        st.booleans(),
        arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 30)),
               elements=st.floats(-1e3, 1e3, width=32)),
    )
    def test_error_is_at_most_half_a_step(self, nbits: int, symmetric: bool, values: np.ndarray) -> None:
        """Dequantized weights are within half a step of the input, indices below 2**nbits."""
        if symmetric and nbits == 1:
            nbits = 2
        result = mlquant.LinearQuantizer(nbits=nbits, symmetric=symmetric).quantize(values, channel_axis=0)
        assert int(result.indices.max()) < 2**nbits
        step = result.scale.reshape(-1, 1).astype(np.float64)
        error = np.abs(result.dequantize().astype(np.float64) - values)
        slack = 1e-6 * (np.abs(values).max() + 1)
        assert np.all(error <= step / 2 + slack)

    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 8), arrays(np.float32, st.integers(1, 200), elements=st.floats(-50, 50, width=32)))
    def test_lut_error_is_at_most_half_a_step(self, nbits: int, values: np.ndarray) -> None:
        """A linear look-up table is uniform over [min, max]: error within half a step."""
        result = mlquant.LinearLUTQuantizer(nbits=nbits).quantize(values)
        step = (float(values.max()) - float(values.min())) / (2**nbits - 1)
        error = np.abs(result.dequantize().astype(np.float64) - values)
        assert np.all(error <= step / 2 + 1e-5 * (np.abs(values).max() + 1))


class TestKMeans:
    def test_exact_on_few_distinct_values(self) -> None:
        """With no more distinct values than table entries, every value is stored exactly."""
        values = np.array([3.0, -1.0, 3.0, 0.5, -1.0, 0.5, 0.5])
        result = mlquant.KMeansLUTQuantizer(nbits=2).quantize(values)
        np.testing.assert_array_equal(result.dequantize(), values.astype(np.float32))
        assert len(result.table) == 4

    def test_two_clusters_hand_computed(self) -> None:
        """1-bit k-means of {0, 1, 10, 11} is the table {0.5, 10.5}."""
        result = mlquant.KMeansLUTQuantizer(nbits=1).quantize(np.array([0.0, 10.0, 1.0, 11.0]))
        np.testing.assert_array_equal(np.sort(result.table), [0.5, 10.5])
        np.testing.assert_array_equal(result.dequantize(), [0.5, 10.5, 0.5, 10.5])

    def test_deterministic(self) -> None:
        """The same weights give the same table, bit for bit."""
        values = np.random.default_rng(3).normal(size=5000)
        first = mlquant.KMeansLUTQuantizer(nbits=5).quantize(values)
        second = mlquant.KMeansLUTQuantizer(nbits=5).quantize(values)
        assert first.table.tobytes() == second.table.tobytes()
        assert first.indices.tobytes() == second.indices.tobytes()

    @pytest.mark.parametrize("nbits", [1, 3, 5, 8])
    def test_no_worse_than_coremltools_kmeans(self, food_model: mlquant.Model, nbits: int) -> None:
        """On real layers the squared error is no larger than the scikit-learn call coremltools makes."""
        from sklearn.cluster import KMeans

        for name in ("conv1.weights", "fire5/expand3x3.weights", "conv10_food.weights"):
            values = food_model.read(name).reshape(-1, 1)
            reference = KMeans(2**nbits, init="k-means++", tol=1e-2, n_init=1, random_state=0).fit(values)
            theirs = float(np.sum((reference.cluster_centers_.astype(np.float32)[reference.labels_] - values) ** 2))
            ours = mlquant.KMeansLUTQuantizer(nbits=nbits).quantize(values.ravel()).dequantize()
            mine = float(np.sum((ours - values.ravel()) ** 2))
            assert mine <= theirs * 1.02, f"{name} at {nbits} bits: {mine:.6g} > {theirs:.6g}"


class TestCustomTables:
    def test_function_form(self) -> None:
        """A function with coremltools' lut_function signature builds the table."""

        def sign_lut(nbits: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.array([-1.0, 1.0]), (values.reshape(-1) >= 0).astype(np.uint8)

        quantizer = mlquant.LUTQuantizer(nbits=1, function=sign_lut)
        np.testing.assert_array_equal(quantizer.quantize(np.array([-3.0, 2.0, 0.0])).dequantize(), [-1, 1, 1])
        assert quantizer.name == "sign_lut_1"

    def test_wrong_table_length(self) -> None:
        """A custom table with the wrong number of entries is a QuantizationError naming the weight."""
        quantizer = mlquant.LUTQuantizer(nbits=2, function=lambda n, v: (np.zeros(3), np.zeros(v.size, int)))
        with pytest.raises(QuantizationError, match=r"layer 'fc' weights: a 2-bit look-up table needs exactly 4 entries \(got 3\)"):
            quantizer.quantize(np.ones(5), where="layer 'fc' weights")

    def test_indices_out_of_range(self) -> None:
        """Indices at or above 2**nbits are refused."""
        quantizer = mlquant.LUTQuantizer(nbits=1, function=lambda n, v: (np.zeros(2), np.full(v.size, 2)))
        with pytest.raises(QuantizationError, match=r"indices must lie in 0..1 \(got 2..2\)"):
            quantizer.quantize(np.ones(5))

    def test_no_function_no_override(self) -> None:
        """A bare LUTQuantizer says how to use it."""
        with pytest.raises(SettingsError, match="overrides lut"):
            mlquant.LUTQuantizer(nbits=2).quantize(np.ones(3))

    def test_user_subclass_end_to_end(self, food_model: mlquant.Model, tmp_path) -> None:
        """A user's subclass quantizes the real model into a file that loads back with its table."""
        small = mlquant.quantize(food_model, PowerOfTwoLUT(nbits=4))
        path = small.save(tmp_path / "pow2.mlmodel")
        again = mlquant.load(path)
        weight = again.weights[0]
        assert (weight.storage, weight.nbits) == ("lut", 4)
        restored = again.read(weight)
        magnitudes = np.abs(restored[restored != 0])
        np.testing.assert_array_equal(np.log2(magnitudes), np.round(np.log2(magnitudes)))


class TestBadWeights:
    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite(self, bad: float) -> None:
        """NaN or infinite weights are a QuantizationError that counts them."""
        with pytest.raises(QuantizationError, match=r"conv: 1 of 3 values are NaN or infinite"):
            mlquant.LinearQuantizer(nbits=8).quantize(np.array([1.0, bad, 2.0]), where="conv")

    def test_float16_overflow(self) -> None:
        """Values beyond float16's range are refused rather than stored as infinity."""
        with pytest.raises(QuantizationError, match="float16 holds magnitudes up to 65504"):
            mlquant.Float16Quantizer().quantize(np.array([1e6]))

    def test_empty(self) -> None:
        """An empty tensor cannot be quantized."""
        with pytest.raises(QuantizationError, match="no values"):
            mlquant.KMeansLUTQuantizer(nbits=2).quantize(np.array([]))
