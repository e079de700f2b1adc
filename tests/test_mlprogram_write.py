"""Writing ML Programs: quantized forms become constexpr ops coremltools reads back exactly; the rest is kept."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant import AffineWeights, LUTWeights
from mlquant.weights import GroupedLUTWeights

from ._mlprograms import coremltools_constants


def _ops(model) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(op.type, op.outputs[0].name) for op in model.block.operations]


def _check_against_coremltools(path: Path) -> mlquant.Model:
    """Load a written package; coremltools reads the same value as mlquant for every weight."""
    model = mlquant.load(path)
    expected = coremltools_constants(path)
    for slot in model.slots:
        ours, theirs = model.const_value(slot.producer), expected[slot.producer]
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), slot.producer
    return model


def _affine(values: np.ndarray, nbits: int, blocks: int) -> AffineWeights:
    """Unsigned zero-point affine weights, one scale per output channel and block of the flattened rest."""
    flat = values.reshape(values.shape[0], blocks, -1)
    low, high = np.minimum(flat.min(axis=2), 0), np.maximum(flat.max(axis=2), 0)
    scale = ((high - low) / (2**nbits - 1)).astype(np.float32)
    offset = np.rint(-low / scale).astype(np.float32)
    data = np.clip(np.rint(flat / scale[..., None] + offset[..., None]), 0, 2**nbits - 1).astype(np.uint8)
    shape = (values.shape[0], blocks) + (1,) * (values.ndim - 2)
    return AffineWeights(nbits=nbits, data=data.reshape(values.shape), scale=scale.reshape(shape),
                         offset=offset.reshape(shape), signed=False)


class TestRoundTrip:
    @pytest.mark.parametrize("name", ["fp32_16", "palettize4_16", "prune_palettize_18", "vector_18", "cast_16",
                                      "palettize_quantize_18"])
    def test_saving_unchanged_keeps_everything(self, mlpackages, tmp_path, name) -> None:
        """load -> save gives the same ops, values, spec and file sizes."""
        model = mlquant.load(mlpackages[name])
        copy = mlquant.load(model.save(tmp_path / "copy.mlpackage"))
        assert copy.spec == model.spec
        assert _ops(copy) == _ops(model)
        assert all(np.array_equal(copy.read(w), model.read(w)) for w in model.weights)
        assert copy.size_bytes == model.size_bytes and copy.fingerprint() == model.fingerprint()

    def test_saving_over_a_package_replaces_it_atomically(self, mlpackages, tmp_path) -> None:
        """Saving over an existing package leaves the new one and no temporary folders beside it."""
        target = shutil.copytree(mlpackages["fp32_16"], tmp_path / "m.mlpackage")
        small = mlquant.quantize(mlquant.load(mlpackages["fp32_16"]), mlquant.LinearLUTQuantizer(2))
        small.save(target)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlpackage"]
        assert mlquant.load(target).weights[0].storage == "lut"

    def test_saving_elsewhere_than_a_package_is_refused(self, mlpackages, tmp_path) -> None:
        """An ML Program is saved as an .mlpackage folder; another suffix is an OutputError."""
        with pytest.raises(mlquant.OutputError, match=r"\.mlpackage"):
            mlquant.load(mlpackages["fp32_16"]).save(tmp_path / "m.mlmodel")


class TestQuantizing:
    def test_lut4_is_as_small_as_coremltools_uniform_palettization(self, mlpackages, tmp_path) -> None:
        """A 4-bit per-tensor table writes the iOS16 op, keeps the target, and matches coremltools' size."""
        model = mlquant.load(mlpackages["fp16_16"])
        small = mlquant.quantize(model, mlquant.LinearLUTQuantizer(4), select=mlquant.LayerSelector(min_count=100))
        written = _check_against_coremltools(small.save(tmp_path / "q.mlpackage"))
        reference = mlquant.load(mlpackages["palettize4_16"])
        assert (written.deployment_target, written.opset) == ("iOS16", "CoreML6")
        assert [w.storage for w in written.weights] == [w.storage for w in reference.weights]
        weights = [p / "Data/com.apple.CoreML/weights/weight.bin" for p in (tmp_path / "q.mlpackage", mlpackages["palettize4_16"])]
        assert weights[0].stat().st_size == weights[1].stat().st_size
        assert abs(written.size_bytes / reference.size_bytes - 1) < 0.01

    def test_3_bit_tables_raise_the_target_to_ios18(self, mlpackages, tmp_path) -> None:
        """A 3-bit table needs the iOS18 op; the spec version and every function's opset say so."""
        small = mlquant.quantize(mlquant.load(mlpackages["fp32_16"]), mlquant.KMeansLUTQuantizer(3))
        written = _check_against_coremltools(small.save(tmp_path / "q.mlpackage"))
        assert (written.spec.specificationVersion, written.opset, written.deployment_target) == (9, "CoreML8", "iOS18")
        assert all(w.storage == "lut" and w.nbits == 3 for w in written.weights if not w.is_bias)
        assert all(np.array_equal(written.read(w), small.read(w)) for w in written.weights)

    @pytest.mark.parametrize("quantizer", [mlquant.Float16Quantizer(), mlquant.LinearLUTQuantizer(4)])
    def test_an_ios15_program_is_raised_to_ios16_for_constexpr_ops(self, mlpackages, tmp_path, quantizer) -> None:
        """Constexpr ops need iOS16: an iOS15 program (CoreML5) becomes iOS16 (CoreML6) when it gets one."""
        model = mlquant.load(mlpackages["fp32_15"])
        assert (model.deployment_target, model.opset) == ("iOS15", "CoreML5")
        written = _check_against_coremltools(mlquant.quantize(model, quantizer).save(tmp_path / "q.mlpackage"))
        assert (written.deployment_target, written.opset, written.spec.specificationVersion) == ("iOS16", "CoreML6", 7)

    def test_float16_in_a_float32_program_is_cast(self, mlpackages, tmp_path) -> None:
        """float16 weights in a float32 program are a constexpr_cast to fp32, values exactly the halves."""
        model = mlquant.load(mlpackages["fp32_16"])
        small = mlquant.quantize(model, mlquant.Float16Quantizer())
        written = _check_against_coremltools(small.save(tmp_path / "q.mlpackage"))
        producers = {op.outputs[0].name: op.type for op in written.block.operations}
        assert producers[written.slots[0].producer] == "constexpr_cast"
        assert all(np.array_equal(written.read(w), model.read(w).astype(np.float16).astype(np.float32))
                   for w in written.weights if not w.is_bias)

    def test_a_float32_array_replaces_a_weight(self, mlpackages, tmp_path) -> None:
        """A plain array is written as a const of the program's dtype."""
        model = mlquant.load(mlpackages["palettize4_16"])
        values = np.linspace(-1, 1, model.weights[0].count, dtype=np.float32).reshape(model.weights[0].shape)
        written = _check_against_coremltools(model.replace({0: values}).save(tmp_path / "q.mlpackage"))
        assert written.weights[0].storage == "float16"
        assert np.array_equal(written.read(0), values.astype(np.float16).astype(np.float32))

    def test_hand_built_forms_read_back_exactly(self, mlpackages, tmp_path) -> None:
        """Grouped tables, per-channel 8-bit and per-block 4-bit affine weights dequantize as their forms say."""
        model = mlquant.load(mlpackages["fp32_16"])
        conv, fc = model.read("conv1.weight"), model.read("fc.weight")
        rng = np.random.default_rng(0)
        grouped = GroupedLUTWeights(nbits=2, indices=rng.integers(0, 4, conv.shape), tables=rng.standard_normal((4, 4)),
                                    axis=0, group_size=4)
        per_channel = _affine(conv, 8, 1)
        per_block = _affine(fc, 4, fc.shape[1] // 32)
        cases = [({0: per_channel}, "iOS16", "affine", 8), ({0: grouped}, "iOS18", "lut", 2),
                 ({6: per_block}, "iOS18", "affine", 4)]
        for index, (new, target, storage, nbits) in enumerate(cases):
            written = _check_against_coremltools(model.replace(new).save(tmp_path / f"q{index}.mlpackage"))
            (weight, form), = new.items()
            assert written.deployment_target == target
            assert (written.weights[weight].storage, written.weights[weight].nbits) == (storage, nbits)
            assert np.array_equal(written.read(weight), form.dequantize())

    @pytest.mark.parametrize(("blocks", "target"), [(1, "iOS16"), (4, "iOS18")])
    def test_fractional_zero_points_are_stored_as_floats(self, mlpackages, tmp_path, blocks, target) -> None:
        """Zero points that are not whole numbers are kept exactly (as float zero points), never rounded."""
        model = mlquant.load(mlpackages["fp32_16"])
        form = _affine(model.read("fc.weight"), 8, blocks)
        form = AffineWeights(nbits=8, data=form.data, scale=form.scale, offset=form.offset + 0.25, signed=False)
        written = _check_against_coremltools(model.replace({6: form}).save(tmp_path / "q.mlpackage"))
        assert written.deployment_target == target
        assert np.array_equal(written.read(6), form.dequantize())

    def test_saving_is_deterministic(self, mlpackages, tmp_path) -> None:
        """The same model saved twice, even from a bare .mlmodel file (a new manifest), gives the same bytes."""
        shutil.copytree(mlpackages["palettize4_16"] / "Data/com.apple.CoreML", tmp_path / "bare")
        model = mlquant.load(tmp_path / "bare/model.mlmodel").replace({0: np.zeros((16, 8, 3, 3), np.float32)})
        first, second = model.save(tmp_path / "a.mlpackage"), model.save(tmp_path / "b.mlpackage")
        files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
        assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)

    def test_float_bias_linear_weights_are_refused(self, mlpackages) -> None:
        """NeuralNetwork-style scale and float bias has no ML Program op: storage_problem says why."""
        model = mlquant.load(mlpackages["fp32_16"])
        form = mlquant.LinearWeights(nbits=8, indices=np.zeros(model.weights[0].shape, np.uint8), scale=[1.0], bias=[0.5])
        assert "cannot store" in model.storage_problem(model.weights[0], form)
        assert model.storage_problem(model.weights[0], LUTWeights(nbits=1, indices=np.zeros(4, np.uint8), table=[0, 1])) is None

    def test_everything_else_is_kept(self, mlpackages, tmp_path) -> None:
        """Inputs, outputs, metadata, other ops and their names stay; replaced weights keep their output names."""
        model = mlquant.load(mlpackages["prune_palettize_18"])
        with pytest.warns(mlquant.MlquantWarning, match="quantized again"):
            small = mlquant.quantize(model, mlquant.LinearLUTQuantizer(4), select=mlquant.LayerSelector(min_count=100))
        written = mlquant.load(small.save(tmp_path / "q.mlpackage"))
        assert written.spec.description == model.spec.description
        assert written.program.attributes == model.program.attributes
        kept = [(t, n) for t, n in _ops(model) if not t.startswith("constexpr_")]
        assert [(t, n) for t, n in _ops(written) if not t.startswith("constexpr_")] == kept
        assert [s.producer for s in written.slots] == [s.producer for s in model.slots]
        assert not any(t == "constexpr_lut_to_sparse" for t, _ in _ops(written))

    def test_no_orphaned_blobs(self, mlpackages, tmp_path) -> None:
        """The rewritten weight.bin holds exactly the blobs the program refers to."""
        small = mlquant.quantize(mlquant.load(mlpackages["fp16_16"]), mlquant.LinearLUTQuantizer(2))
        written = mlquant.load(small.save(tmp_path / "q.mlpackage"))
        (blob,) = written.blob_files.values()
        from mlquant.formats.mlprogram.write import values_of

        referenced = {v.blobFileValue.offset for v in values_of(written.block) if v.WhichOneof("value") == "blobFileValue"}
        assert set(blob.offsets()) == referenced and blob.count == len(referenced)
        assert written.size_bytes < 0.5 * mlquant.load(mlpackages["fp16_16"]).size_bytes

    @pytest.mark.parametrize("name", ["palettize4_16", "prune_16", "linear_channel_16", "cast_16"])
    def test_raising_to_ios18_rewrites_ios16_constexprs(self, mlpackages, tmp_path, name) -> None:
        """An iOS18 form in an iOS16 program turns the old look-up, sparse and cast ops into their iOS18
        forms with unchanged values (coremltools reads them so)."""
        model = mlquant.load(mlpackages[name])
        last = model.weights[-2] if name != "cast_16" else model.weights[0]
        plan = mlquant.QuantizationPlan(per_weight={last.name: mlquant.KMeansLUTQuantizer(3)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mlquant.MlquantWarning)
            small = mlquant.quantize(model, plan)
        written = _check_against_coremltools(small.save(tmp_path / "q.mlpackage"))
        assert (written.deployment_target, written.opset) == ("iOS18", "CoreML8")
        assert written.weights[last.index].nbits == 3
        assert all(np.array_equal(written.read(w), model.read(w)) for w in model.weights if w.index != last.index)
        assert [w.storage for w in written.weights if w.index != last.index] == [
            w.storage for w in model.weights if w.index != last.index]

    def test_classifier_labels_survive(self, tmp_path) -> None:
        """A classifier's labels and its classify op are kept when its weights are quantized."""
        import coremltools as ct

        from ._mlprograms import conv_program, save

        labels = [f"c{i}" for i in range(10)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = ct.convert(conv_program(ct.target.iOS16), convert_to="mlprogram",
                                   minimum_deployment_target=ct.target.iOS16,
                                   classifier_config=ct.ClassifierConfig(labels))
        model = mlquant.load(save(converted, tmp_path / "cls.mlpackage"))
        assert model.class_labels == tuple(labels)
        small = mlquant.load(mlquant.quantize(model, mlquant.LinearLUTQuantizer(4)).save(tmp_path / "q.mlpackage"))
        assert small.class_labels == tuple(labels) and small.spec.description == model.spec.description


class TestAgainstCoremltoolsOptimize:
    @pytest.mark.parametrize(("base", "reference", "quantizer"), [
        ("fp16_16", "linear_channel_16", mlquant.LinearQuantizer(8)),
        ("fp32_16", "symmetric_tensor_16", mlquant.LinearQuantizer(8, symmetric=True, granularity=mlquant.PerTensor())),
        ("fp16_18", "block_int4_18", mlquant.LinearQuantizer(4, symmetric=True, granularity=mlquant.PerBlock(8))),
        ("fp16_16", "palettize4_16", mlquant.LinearLUTQuantizer(4)),
    ])
    def test_same_values_same_ops_same_blob_size(self, mlpackages, tmp_path, base, reference, quantizer) -> None:
        """Quantizing as coremltools.optimize.coreml did writes the same op types, values and weight.bin size."""
        small = mlquant.quantize(mlquant.load(mlpackages[base]), quantizer, select=mlquant.LayerSelector(min_count=100))
        written = _check_against_coremltools(small.save(tmp_path / "q.mlpackage"))
        theirs = mlquant.load(mlpackages[reference])
        assert written.spec.specificationVersion == theirs.spec.specificationVersion
        assert sorted(t for t, _ in _ops(written)) == sorted(t for t, _ in _ops(theirs))
        assert all(np.array_equal(written.read(w), theirs.read(w)) for w in theirs.weights)
        sizes = [len(next(iter(m.blob_files.values())).data) for m in (written, theirs)]
        assert sizes[0] == sizes[1]
        assert abs(written.size_bytes / theirs.size_bytes - 1) <= 0.01


class TestChains:
    @pytest.mark.parametrize("name", ["palettize_quantize_18", "prune_quantize_18"])
    def test_replacing_a_chain_drops_every_op_of_it(self, mlpackages, tmp_path, name) -> None:
        """A weight made by a chain of constexpr ops is replaced whole: no op of the chain is left."""
        model = mlquant.load(mlpackages[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mlquant.MlquantWarning)
            small = mlquant.quantize(model, mlquant.Float16Quantizer(), select=mlquant.LayerSelector(min_count=100))
        written = _check_against_coremltools(small.save(tmp_path / "q.mlpackage"))
        assert not any(t.startswith("constexpr_") for t, _ in _ops(written))
        assert all(w.storage == "float16" for w in written.weights)
