"""Granularity on the quantizers, and ML Program numerics against coremltools.optimize's own code.

The oracles are the functions ``coremltools.optimize.coreml`` uses for every weight
(``_utils.compute_qparams`` for linear_quantize_weights, ``palettize_weights.grouped_channelwise_compress``
for palettize_weights), and the whole passes run on a small MIL program built in memory.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pytest

import mlquant
from mlquant.errors import QuantizationError, SettingsError
from mlquant.formats.mlprogram.storage import MLPROGRAM_STORAGE
from mlquant.testing import check_quantizer
from mlquant.weights import AffineWeights, GroupedLUTWeights, LinearWeights, LUTWeights

FLOATS = [np.float32, np.float16]
WIDTHS = [1, 2, 3, 4, 6, 8]


def _coremltools() -> Any:
    """Import coremltools.optimize quietly (it logs about missing native parts on Linux)."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools.optimize._utils as utils
        from coremltools.optimize.coreml._quantization_passes import palettize_weights
    return utils, palettize_weights


def _kernel(dtype: type, shape: tuple[int, ...] = (32, 16, 3, 3), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_t(3, size=shape) * 0.05).astype(dtype)


class TestNamesAndSettings:
    @pytest.mark.parametrize(
        ("quantizer", "name"),
        [
            (mlquant.KMeansLUTQuantizer(4), "kmeans_lut_4"),
            (mlquant.KMeansLUTQuantizer(4, mlquant.PerGroupedChannel(16)), "kmeans_lut_4_g16"),
            (mlquant.LinearLUTQuantizer(3, granularity=mlquant.PerGroupedChannel(8)), "linear_lut_3_g8"),
            (mlquant.LinearQuantizer(4), "linear_4"),
            (mlquant.LinearQuantizer(4, granularity=mlquant.PerBlock(32)), "linear_4_b32"),
            (mlquant.LinearQuantizer(8, symmetric=True, granularity=mlquant.PerTensor()), "linear_symmetric_8"),
            (mlquant.LinearQuantizer(4, signed=False, granularity=mlquant.PerBlock(16)), "linear_u4_b16"),
        ],
    )
    def test_names_carry_the_granularity(self, quantizer: mlquant.Quantizer, name: str) -> None:
        """Grouped tables add _g<size>, blocks _b<size>; the defaults keep today's names."""
        assert quantizer.name == name

    def test_tables_refuse_blocks(self) -> None:
        """A table quantizer takes PerTensor or PerGroupedChannel only, and says so."""
        with pytest.raises(SettingsError, match=r"KMeansLUTQuantizer: granularity must be one of PerTensor\(\), PerGroupedChannel\(\)"):
            mlquant.KMeansLUTQuantizer(4, mlquant.PerBlock(32))  # type: ignore[arg-type]

    def test_linear_refuses_groups(self) -> None:
        """LinearQuantizer takes PerTensor, PerChannel or PerBlock."""
        with pytest.raises(SettingsError, match="LinearQuantizer: granularity must be one of"):
            mlquant.LinearQuantizer(4, granularity=mlquant.PerGroupedChannel(4))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "quantizer",
        [
            mlquant.KMeansLUTQuantizer(3, mlquant.PerGroupedChannel(4)),
            mlquant.LinearLUTQuantizer(2, mlquant.PerGroupedChannel(2)),
            mlquant.LinearQuantizer(4, granularity=mlquant.PerBlock(2)),
            mlquant.LinearQuantizer(8, symmetric=True, granularity=mlquant.PerTensor()),
        ],
        ids=lambda q: q.name,
    )
    def test_conformance(self, quantizer: mlquant.Quantizer) -> None:
        """Quantizers with a granularity pass the shared conformance check."""
        check_quantizer(quantizer)

    @pytest.mark.parametrize(
        "quantizer",
        [
            mlquant.KMeansLUTQuantizer(4, mlquant.PerGroupedChannel(2)),
            mlquant.LinearLUTQuantizer(3),
            mlquant.LinearQuantizer(4, granularity=mlquant.PerBlock(2)),
            mlquant.LinearQuantizer(8, symmetric=True, signed=False),
            mlquant.LinearQuantizer(8, granularity=mlquant.PerTensor()),
        ],
        ids=lambda q: q.name,
    )
    def test_conformance_for_ml_programs(self, quantizer: mlquant.Quantizer) -> None:
        """With the ML Program's rules (zero points, float16 arithmetic) the quantizers keep the same contract."""
        check_quantizer(quantizer, storage=MLPROGRAM_STORAGE)

    def test_group_size_must_divide_the_channels(self) -> None:
        """Groups of 3 do not divide 32 channels: unfit says why, quantize() raises it."""
        quantizer = mlquant.KMeansLUTQuantizer(2, mlquant.PerGroupedChannel(3))
        assert quantizer.unfit((32, 4), 0) == "group size 3 does not divide the 32 channels along axis 0"
        with pytest.raises(QuantizationError, match="group size 3 does not divide"):
            quantizer.quantize(_kernel(np.float32, (32, 4)), channel_axis=0)

    def test_oversized_groups_and_blocks_cover_the_axis(self) -> None:
        """A group or block larger than its axis becomes the whole axis: one table, one block per channel."""
        grouped = mlquant.KMeansLUTQuantizer(2, mlquant.PerGroupedChannel(64)).quantize(_kernel(np.float32, (8, 4)), channel_axis=0)
        assert isinstance(grouped, GroupedLUTWeights)
        assert (grouped.groups, grouped.group_size) == (1, 8)
        blocked = mlquant.LinearQuantizer(8, granularity=mlquant.PerBlock(64)).quantize(_kernel(np.float32, (8, 4)), channel_axis=0)
        assert isinstance(blocked, AffineWeights)
        assert blocked.scale.shape == (8, 1)


class TestForms:
    def test_grouped_tables_per_group(self) -> None:
        """Each group of two channels gets the k-means table of its own values."""
        values = np.array([[0.0, 1.0], [0.0, 1.0], [10.0, 20.0], [10.0, 20.0]], np.float32)
        result = mlquant.KMeansLUTQuantizer(1, mlquant.PerGroupedChannel(2)).quantize(values, channel_axis=0)
        assert isinstance(result, GroupedLUTWeights)
        np.testing.assert_array_equal(result.tables, [[0, 1], [10, 20]])
        np.testing.assert_array_equal(result.dequantize(), values)

    def test_user_lut_called_once_per_group(self) -> None:
        """A custom lut() sees each group's values once."""
        seen: list[int] = []

        def spread(nbits: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            seen.append(values.size)
            table = np.linspace(values.min(), values.max(), 2**nbits)
            return table, np.abs(values.reshape(-1, 1) - table).argmin(axis=1)

        quantizer = mlquant.LUTQuantizer(2, mlquant.PerGroupedChannel(4), function=spread)
        result = quantizer.quantize(_kernel(np.float32, (12, 5)), channel_axis=0)
        assert seen == [20, 20, 20]
        assert isinstance(result, GroupedLUTWeights) and result.groups == 3
        assert quantizer.name == "spread_2_g4"

    def test_groups_along_axis_one(self) -> None:
        """With the channels on axis 1 (deconvolution) the groups run along axis 1."""
        values = _kernel(np.float32, (4, 8, 3, 3))
        result = mlquant.LinearLUTQuantizer(2, mlquant.PerGroupedChannel(4)).quantize(values, channel_axis=1)
        assert isinstance(result, GroupedLUTWeights) and result.axis == 1
        for group in range(2):
            part = values[:, 4 * group : 4 * group + 4]
            assert result.tables[group][0] == pytest.approx(part.min())
            assert result.tables[group][-1] == pytest.approx(part.max())

    def test_bias_flavour_is_neuralnetwork_linear(self) -> None:
        """Without storage rules LinearQuantizer keeps its NeuralNetwork scale-and-bias form, per tensor too."""
        values = np.array([[0.0, 3.0], [1.0, 5.0]], np.float32)
        per_tensor = mlquant.LinearQuantizer(2, granularity=mlquant.PerTensor()).quantize(values, channel_axis=0)
        assert isinstance(per_tensor, LinearWeights) and per_tensor.axis is None
        np.testing.assert_array_equal(per_tensor.scale, [np.float32(5) / np.float32(3)])
        np.testing.assert_array_equal(per_tensor.bias, [0])

    def test_zero_point_hand_computed(self) -> None:
        """ML Program 8-bit asymmetric: range widened to hold 0, scale 4/255, zero point round(-255*-1/4) = 64."""
        values = np.array([[-1.0, 0.0, 3.0]], np.float32)
        result = mlquant.LinearQuantizer(8, signed=False, granularity=mlquant.PerTensor()).quantize(values, storage=MLPROGRAM_STORAGE)
        assert isinstance(result, AffineWeights)
        scale = np.float32(4) / np.float32(255)
        assert result.scale.reshape(-1)[0] == scale
        assert result.offset.reshape(-1)[0] == 64
        np.testing.assert_array_equal(result.data, [[64 - 64, 64, 64 + 191]])  # round(3 / scale) = 191
        np.testing.assert_allclose(result.dequantize(), values, atol=float(scale) / 2)


class TestLinearAgainstCoremltools:
    @pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
    @pytest.mark.parametrize(("nbits", "signed"), [(8, True), (8, False), (4, True), (4, False)], ids=["int8", "uint8", "int4", "uint4"])
    @pytest.mark.parametrize("symmetric", [False, True], ids=["linear", "linear_symmetric"])
    @pytest.mark.parametrize(
        ("granularity", "channel_axis", "block_sizes"),
        [
            (mlquant.PerTensor(), 0, [0, 0, 0, 0]),
            (mlquant.PerChannel(), 0, [1, 0, 0, 0]),
            (mlquant.PerBlock(8), 0, [1, 8, 0, 0]),
            (mlquant.PerBlock(4), 1, [4, 1, 0, 0]),
        ],
        ids=["per_tensor", "per_channel", "per_block", "per_block_deconvolution"],
    )
    def test_identical_to_compute_qparams(
        self, dtype: type, nbits: int, signed: bool, symmetric: bool, granularity: Any, channel_axis: int, block_sizes: list[int]
    ) -> None:
        """Data, scale and zero point equal coremltools' compute_qparams (what linear_quantize_weights stores), bit for bit."""
        utils, _ = _coremltools()
        values = _kernel(dtype, (32, 16, 3, 3))
        quantizer = mlquant.LinearQuantizer(nbits, symmetric, granularity, signed=signed)
        ours = quantizer.quantize(values, channel_axis=channel_axis, storage=MLPROGRAM_STORAGE)
        mode = "LINEAR_SYMMETRIC" if symmetric else "LINEAR"
        data, scale, zero_point = utils.compute_qparams(values, nbits, signed, mode, None, block_sizes)
        assert isinstance(ours, AffineWeights)
        np.testing.assert_array_equal(ours.data.astype(np.int16), data.astype(np.int16))
        assert scale.dtype == dtype and ours.scale.shape == scale.shape
        np.testing.assert_array_equal(ours.scale.astype(dtype), scale)
        np.testing.assert_array_equal(ours.scale, scale.astype(np.float32))
        expected_offset = np.zeros(scale.shape) if zero_point is None else zero_point.astype(np.float32)
        np.testing.assert_array_equal(ours.offset, expected_offset)
        decompressed = utils.dequantize_by_scale_and_zp(data, scale, zero_point)
        np.testing.assert_allclose(ours.dequantize(), decompressed.astype(np.float32), rtol=1e-3, atol=1e-6)


class TestUniformAgainstCoremltools:
    @pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
    @pytest.mark.parametrize("nbits", WIDTHS)
    @pytest.mark.parametrize(("group_size", "channel_axis"), [(0, 0), (16, 0), (4, 1)], ids=["per_tensor", "g16", "g4_axis1"])
    def test_identical_tables_and_indices(self, dtype: type, nbits: int, group_size: int, channel_axis: int) -> None:
        """LinearLUTQuantizer for an ML Program equals palettize_weights mode='uniform': tables and indices."""
        _, palettize = _coremltools()
        values = _kernel(dtype, (32, 16, 3, 3), seed=nbits)
        granularity = mlquant.PerGroupedChannel(group_size) if group_size else mlquant.PerTensor()
        ours = mlquant.LinearLUTQuantizer(nbits, granularity).quantize(values, channel_axis=channel_axis, storage=MLPROGRAM_STORAGE)
        theirs = palettize.grouped_channelwise_compress(values, "UNIFORM", nbits, channel_axis, group_size)
        tables = ours.tables if isinstance(ours, GroupedLUTWeights) else ours.table[np.newaxis]  # type: ignore[attr-defined]
        expected_tables = np.moveaxis(theirs.lut, channel_axis, 0).reshape(-1, 2**nbits)
        np.testing.assert_array_equal(tables.astype(dtype), expected_tables)
        np.testing.assert_array_equal(tables, expected_tables.astype(np.float32))
        np.testing.assert_array_equal(ours.indices, theirs.indices.astype(np.uint8))  # type: ignore[attr-defined]


class TestKMeansAgainstCoremltools:
    @pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
    @pytest.mark.parametrize("nbits", WIDTHS)
    @pytest.mark.parametrize("group_size", [0, 16], ids=["per_tensor", "g16"])
    def test_error_no_larger(self, dtype: type, nbits: int, group_size: int) -> None:
        """KMeansLUTQuantizer's squared error is no larger in total than palettize_weights mode='kmeans', and no tensor is 1% worse."""
        utils, palettize = _coremltools()
        granularity = mlquant.PerGroupedChannel(group_size) if group_size else mlquant.PerTensor()
        quantizer = mlquant.KMeansLUTQuantizer(nbits, granularity)
        ours_total = theirs_total = 0.0
        for seed, shape in enumerate([(32, 8, 3, 3), (32, 40)]):
            values = _kernel(dtype, shape, seed=seed)
            exact = values.astype(np.float64)
            ours = quantizer.quantize(values, channel_axis=0, storage=MLPROGRAM_STORAGE).dequantize()
            theirs = palettize.grouped_channelwise_compress(values, "KMEANS", nbits, 0, group_size)
            restored = utils.lut_to_dense(theirs.indices, theirs.lut, None)
            ours_error = float(np.sum((ours.astype(np.float64) - exact) ** 2))
            theirs_error = float(np.sum((restored.astype(np.float64) - exact) ** 2))
            assert ours_error <= 1.01 * theirs_error, f"{shape}: {ours_error:.6g} vs coremltools {theirs_error:.6g}"
            ours_total += ours_error
            theirs_total += theirs_error
        assert ours_total <= theirs_total

    def test_float16_tables_are_float16_values(self) -> None:
        """For float16 ML Program weights every table entry is a float16 value, as the file stores it."""
        values = _kernel(np.float16, (16, 32))
        result = mlquant.KMeansLUTQuantizer(4, mlquant.PerGroupedChannel(8)).quantize(values, channel_axis=0, storage=MLPROGRAM_STORAGE)
        assert isinstance(result, GroupedLUTWeights)
        np.testing.assert_array_equal(result.tables, result.tables.astype(np.float16).astype(np.float32))


def _program_with(weight: np.ndarray, dtype: type) -> Any:
    """A MIL program (iOS18) with one convolution holding ``weight``, built in memory."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    channels = weight.shape[1]

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, channels, 6, 6))], opset_version=ct.target.iOS18)
    def program(x: Any) -> Any:
        if dtype == np.float16:
            x = mb.cast(x=x, dtype="fp16")
        return mb.conv(x=x, weight=weight, name="conv")

    return program


def _constexpr(program: Any, op_type: str) -> Any:
    ops = [op for op in program.functions["main"].operations if op.op_type == op_type]
    assert len(ops) == 1, [op.op_type for op in program.functions["main"].operations]
    return ops[0]


class TestWholePasses:
    """coremltools.optimize.coreml's passes run on a convolution; the consts they write are the oracle."""

    @pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
    @pytest.mark.parametrize(
        ("config", "quantizer"),
        [
            ({"mode": "linear", "dtype": "int4", "granularity": "per_block", "block_size": 4},
             mlquant.LinearQuantizer(4, granularity=mlquant.PerBlock(4))),
            ({"mode": "linear_symmetric", "dtype": "int8", "granularity": "per_channel"},
             mlquant.LinearQuantizer(8, symmetric=True)),
            ({"mode": "linear", "dtype": "uint8", "granularity": "per_tensor"},
             mlquant.LinearQuantizer(8, granularity=mlquant.PerTensor(), signed=False)),
        ],
        ids=["int4_per_block", "int8_symmetric_per_channel", "uint8_per_tensor"],
    )
    def test_linear_quantize_weights(self, dtype: type, config: dict[str, Any], quantizer: mlquant.Quantizer) -> None:
        """linear_quantize_weights on a convolution stores our data, scale and zero point."""
        _coremltools()
        from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig
        from coremltools.optimize.coreml._quantization_passes import linear_quantize_weights

        weight = _kernel(dtype, (8, 8, 3, 3))
        program = _program_with(weight, dtype)
        settings = OptimizationConfig(global_config=OpLinearQuantizerConfig(weight_threshold=0, **config))
        linear_quantize_weights(config=settings).apply(program)
        op = _constexpr(program, "constexpr_blockwise_shift_scale")
        ours = quantizer.quantize(weight, channel_axis=0, storage=MLPROGRAM_STORAGE)
        assert isinstance(ours, AffineWeights)
        np.testing.assert_array_equal(ours.data.astype(np.int16), op.data.val.astype(np.int16))
        np.testing.assert_array_equal(ours.scale, op.scale.val.astype(np.float32))
        offset = np.zeros(ours.scale.shape) if op.offset is None else op.offset.val.astype(np.float32)
        np.testing.assert_array_equal(ours.offset, offset)

    @pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
    @pytest.mark.parametrize("nbits", [3, 4])
    def test_palettize_weights_uniform_grouped(self, dtype: type, nbits: int) -> None:
        """palettize_weights mode='uniform', per_grouped_channel, stores our tables and indices."""
        _coremltools()
        from coremltools.optimize.coreml import OpPalettizerConfig, OptimizationConfig
        from coremltools.optimize.coreml._quantization_passes import palettize_weights

        weight = _kernel(dtype, (16, 8, 3, 3))
        program = _program_with(weight, dtype)
        config = OpPalettizerConfig(mode="uniform", nbits=nbits, granularity="per_grouped_channel", group_size=4, weight_threshold=0)
        palettize_weights(config=OptimizationConfig(global_config=config)).apply(program)
        op = _constexpr(program, "constexpr_lut_to_dense")
        ours = mlquant.LinearLUTQuantizer(nbits, mlquant.PerGroupedChannel(4)).quantize(weight, channel_axis=0, storage=MLPROGRAM_STORAGE)
        assert isinstance(ours, GroupedLUTWeights)
        np.testing.assert_array_equal(ours.indices, op.indices.val.astype(np.uint8))
        np.testing.assert_array_equal(ours.tables, op.lut.val.reshape(4, 2**nbits).astype(np.float32))


class TestStorageRules:
    def test_neuralnetwork_model_declares_its_rules(self) -> None:
        """NeuralNetworkModel.storage is the NeuralNetwork declaration, with the bias flavour."""
        from mlquant.formats.neuralnetwork.storage import NEURALNETWORK_STORAGE

        assert mlquant.NeuralNetworkModel.storage is NEURALNETWORK_STORAGE
        assert NEURALNETWORK_STORAGE.affine == "bias"
        assert MLPROGRAM_STORAGE.affine == "zero_point"

    @pytest.mark.parametrize(
        ("form", "neuralnetwork", "mlprogram"),
        [
            (LUTWeights(3, np.zeros((4, 4), np.uint8), np.zeros(8)), 3, 9),
            (LUTWeights(4, np.zeros((4, 4), np.uint8), np.zeros(16)), 3, 7),
            (GroupedLUTWeights(4, np.zeros((4, 4), np.uint8), np.zeros((2, 16)), 0, 2), None, 9),
            (GroupedLUTWeights(5, np.zeros((4, 4), np.uint8), np.zeros((2, 32)), 0, 2), None, None),
            (GroupedLUTWeights(4, np.zeros((3, 4), np.uint8), np.zeros((2, 16)), 0, 2), None, None),
            (LinearWeights(4, np.zeros((4, 4), np.uint8), np.ones(4), np.zeros(4), 0), 3, None),
            (AffineWeights(8, np.zeros((4, 4), np.int8), np.ones((4, 1)), np.zeros((4, 1)), signed=True), None, 7),
            (AffineWeights(4, np.zeros((4, 4), np.int8), np.ones((4, 1)), np.zeros((4, 1)), signed=True), None, 9),
            (AffineWeights(8, np.zeros((4, 4), np.uint8), np.ones((4, 2)), np.zeros((4, 2)), signed=False), None, 9),
            (AffineWeights(6, np.zeros((4, 4), np.uint8), np.ones((4, 2)), np.zeros((4, 2)), signed=False), None, None),
            (mlquant.Float16Weights(np.zeros(3)), 2, 6),
        ],
        ids=["lut3", "lut4", "grouped4", "grouped5", "grouped_uneven", "linear", "affine8_channel", "affine4_channel",
             "affine8_block", "affine6_block", "float16"],
    )
    def test_minimum_targets(self, form: mlquant.QuantizedWeights, neuralnetwork: int | None, mlprogram: int | None) -> None:
        """Each format's lowest target for each form, as SHARED_API.md and the op definitions set them."""
        assert mlquant.NeuralNetworkModel.storage.minimum_target(form) == neuralnetwork
        assert MLPROGRAM_STORAGE.minimum_target(form) == mlprogram

    def test_explain_names_the_target(self) -> None:
        """A 3-bit per-tensor table needs iOS18 in an ML Program, and the explanation says so."""
        form = LUTWeights(3, np.zeros((4, 4), np.uint8), np.zeros(8))
        assert MLPROGRAM_STORAGE.explain(form) == (
            "the ML Program format stores 3-bit look-up table per tensor from iOS18 (specification 9)"
        )

    def test_grouped_tables_on_a_neuralnetwork_model(self) -> None:
        """Grouped tables in a NeuralNetwork model are a SettingsError naming the ML Program target that stores them."""
        from . import _models

        model = mlquant.Model(_models.every_weight_layer())
        with pytest.raises(SettingsError, match=r"NeuralNetwork format cannot store 4-bit look-up tables.*ML Program format stores .*iOS18"):
            mlquant.quantize(model, mlquant.KMeansLUTQuantizer(4, mlquant.PerGroupedChannel(1)))

    def test_blocks_on_a_neuralnetwork_model(self) -> None:
        """Per-block linear weights in a NeuralNetwork model are a SettingsError naming iOS18."""
        from . import _models

        model = mlquant.Model(_models.every_weight_layer())
        with pytest.raises(SettingsError, match=r"cannot store 4-bit affine integers.*per block.*ML Program format stores.*iOS18 \(specification 9\)"):
            mlquant.quantize(model, mlquant.LinearQuantizer(4, granularity=mlquant.PerBlock(1)))

    def test_max_target(self) -> None:
        """A target cap below what the form needs is a SettingsError naming the target that would do."""
        from . import _models

        model = mlquant.Model(_models.every_weight_layer())
        with pytest.raises(SettingsError, match=r"later than the maximum target iOS11.2 \(specification 2\); raise the target to iOS12"):
            mlquant.quantize(model, mlquant.KMeansLUTQuantizer(4), max_target="iOS11.2")
        small = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(4), max_target="iOS12")
        assert small.spec.specificationVersion >= 3

    def test_unknown_target(self) -> None:
        """An unknown target name lists the known ones."""
        from . import _models

        model = mlquant.Model(_models.every_weight_layer())
        with pytest.raises(SettingsError, match="unknown deployment target 'iOS99'; known targets: iOS11"):
            mlquant.quantize(model, mlquant.KMeansLUTQuantizer(4), max_target="iOS99")


class TestNeuralNetworkModels:
    def test_per_tensor_linear_round_trips(self) -> None:
        """LinearQuantizer(PerTensor()) writes one scale and bias per weight, read back as quantized."""
        from . import _models

        model = mlquant.Model(_models.every_weight_layer())
        small = mlquant.quantize(model, mlquant.LinearQuantizer(8, granularity=mlquant.PerTensor()))
        for before, after in zip(model.weights, small.weights):
            if before.is_bias:
                continue
            expected = mlquant.LinearQuantizer(8, granularity=mlquant.PerTensor()).quantize(model.read(before))
            assert isinstance(expected, LinearWeights) and len(expected.scale) == 1
            np.testing.assert_array_equal(small.read(after), expected.dequantize())

    def test_replace_refuses_what_the_format_cannot_store(self) -> None:
        """Writing grouped tables into a NeuralNetwork model is a QuantizationError naming the layer."""
        from . import _models

        model = mlquant.Model(_models.every_weight_layer())
        weight = next(w for w in model.weights if w.channel_axis is not None and w.shape[w.channel_axis] > 1)
        form = mlquant.KMeansLUTQuantizer(1, mlquant.PerGroupedChannel(1)).quantize(
            model.read(weight), channel_axis=weight.channel_axis
        )
        with pytest.raises(QuantizationError, match=f"{weight.layer}.*NeuralNetwork format cannot store"):
            model.replace({weight.index: form})
