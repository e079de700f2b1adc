"""Reading ML Programs: every constexpr form coremltools writes reads back exactly as coremltools reads it."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.formats.mlprogram.package import read_package, write_package

from ._mlprograms import coremltools_constants

FORMS = [
    "fp32_16", "fp16_16", "fp16_18", "fp32_18", "linear_channel_16", "symmetric_tensor_16", "palettize4_16",
    "palettize2_fp32_16", "palettize6_16", "prune_16", "block_int4_18", "block_uint4_fp32_18", "grouped3_18",
    "grouped1_18", "vector_18", "prune_18", "prune_palettize_18", "prune_quantize_18", "palettize_quantize_18", "cast_16", "layers_16",
]


def _spec(path: Path):  # type: ignore[no-untyped-def]
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(read_package(path).model)
    return spec


def _rewrite(source: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """A copy of package ``source`` at ``target`` with ``change(spec)`` applied to its model message."""
    shutil.copytree(source, target)
    spec = _spec(source)
    change(spec)
    package = read_package(source)
    weights = next(iter(package.weights.values()), None)
    write_package(target, spec.SerializeToString(), weights, package.manifest)
    return target


class TestEveryForm:
    @pytest.mark.parametrize("name", FORMS)
    def test_values_match_coremltools_bit_for_bit(self, mlpackages, name) -> None:
        """Each weight's value, in its own dtype, is what coremltools' MIL loader computes for it."""
        model = mlquant.load(mlpackages[name])
        expected = coremltools_constants(mlpackages[name])
        assert model.weights
        for slot, weight in zip(model.slots, model.weights):
            ours, theirs = model.const_value(slot.producer), expected[slot.producer]
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == weight.shape
            assert np.array_equal(ours, theirs), weight.name
            assert np.array_equal(model.read(weight), theirs.astype(np.float32))

    @pytest.mark.parametrize(("name", "storage", "nbits"), [
        ("fp32_16", "float32", 32), ("fp16_16", "float16", 16), ("linear_channel_16", "affine", 8),
        ("palettize4_16", "lut", 4), ("palettize6_16", "lut", 6), ("prune_16", "sparse", 16),
        ("block_int4_18", "affine", 4), ("grouped3_18", "lut", 3), ("vector_18", "lut", 2),
        ("prune_palettize_18", "sparse+lut", 4), ("prune_quantize_18", "sparse+affine", 8), ("cast_16", "float16", 16),
    ])
    def test_storage_of_the_first_weight(self, mlpackages, name, storage, nbits) -> None:
        """WeightInfo names the storage coremltools chose and its bits per value; bytes are the blobs' sizes."""
        model = mlquant.load(mlpackages[name])
        first = model.weights[0]
        assert (first.storage, first.nbits) == (storage, nbits)
        assert 0 < first.nbytes <= (first.count * nbits) // 8 + 4096

    def test_every_validated_package_has_no_problems(self, mlpackages) -> None:
        """The validator finds nothing wrong in what coremltools writes."""
        for name in FORMS:
            assert mlquant.load(mlpackages[name]).problems() == [], name


class TestProgram:
    def test_deployment_target_and_precision(self, mlpackages) -> None:
        """The model says its target (from the specification version), opset and compute precision."""
        fp32, fp16 = mlquant.load(mlpackages["fp32_16"]), mlquant.load(mlpackages["fp16_18"])
        assert (fp32.deployment_target, fp32.opset, fp32.compute_precision) == ("iOS16", "CoreML6", "fp32")
        assert (fp16.deployment_target, fp16.opset, fp16.compute_precision) == ("iOS18", "CoreML8", "fp16")

    def test_weights_and_channel_axes(self, mlpackages) -> None:
        """conv/linear weights run along axis 0, a constant matmul y along its last axis, norms have none."""
        model = mlquant.load(mlpackages["layers_16"])
        axes = {w.name: (w.layer_type, w.channel_axis, w.is_bias) for w in model.weights}
        assert axes["embed.x"] == ("gather", 0, False)
        assert axes["proj.y"] == ("matmul", 1, False)
        assert axes["norm.gamma"] == ("layer_norm", None, False)
        assert axes["lstm.weight_ih"] == ("lstm", 0, False)
        assert axes["lstm.bias"] == ("lstm", None, True)
        conv = mlquant.load(mlpackages["fp32_16"])
        assert [w.name for w in conv.weights] == ["conv1.weight", "conv1.bias", "bn.mean", "bn.variance", "bn.gamma",
                                                  "bn.beta", "fc.weight", "fc.bias"]

    def test_runtime_api(self, mlpackages) -> None:
        """program, function_name and const_value give the runtime constants in their own dtypes."""
        model = mlquant.load(mlpackages["palettize4_16"])
        assert model.function_name == "main" and "main" in model.program.functions
        ops = {op.outputs[0].name: op for op in model.block.operations}
        strides = next(op for name, op in ops.items() if name.endswith("strides_0"))
        assert model.const_value(strides).dtype == np.int32
        lut = next(op for op in model.block.operations if op.type == "constexpr_lut_to_dense")
        assert model.const_value(lut).dtype == np.float16
        half = mlquant.load(mlpackages["fp16_16"])
        bias = next(s for s in half.slots if s.field == "bias")
        assert half.const_value(bias.producer).dtype == np.float16

    def test_an_unknown_constexpr_is_named(self, mlpackages, tmp_path) -> None:
        """A constexpr op mlquant does not know is an error naming it, never a wrong value."""
        def rename(spec) -> None:  # type: ignore[no-untyped-def]
            block = spec.mlProgram.functions["main"].block_specializations["CoreML6"]
            next(op for op in block.operations if op.type == "constexpr_lut_to_dense").type = "constexpr_future"

        model = mlquant.load(_rewrite(mlpackages["palettize4_16"], tmp_path / "m.mlpackage", rename))
        assert model.weights[0].storage == "constexpr_future"
        with pytest.raises(mlquant.UnsupportedModelError, match="constexpr_future"):
            model.read(0)

    def test_a_corrupted_blob_is_refused(self, mlpackages, tmp_path) -> None:
        """A blob record without its sentinel is an InvalidModelError naming the offset."""
        package = shutil.copytree(mlpackages["fp32_16"], tmp_path / "m.mlpackage")
        blob = package / "Data/com.apple.CoreML/weights/weight.bin"
        data = bytearray(blob.read_bytes())
        data[64:68] = b"\0\0\0\0"
        blob.write_bytes(bytes(data))
        with pytest.raises(mlquant.InvalidModelError, match="m.mlpackage: weights/weight.bin at offset 64.*sentinel"):
            mlquant.load(package)


class TestLoading:
    def test_mlmodel_file_with_its_weights_folder(self, mlpackages, tmp_path) -> None:
        """An ML Program .mlmodel file with a weights folder beside it loads like its package."""
        shutil.copytree(mlpackages["palettize4_16"] / "Data/com.apple.CoreML", tmp_path / "bare")
        bare, package = mlquant.load(tmp_path / "bare/model.mlmodel"), mlquant.load(mlpackages["palettize4_16"])
        assert [w.name for w in bare.weights] == [w.name for w in package.weights]
        assert all(np.array_equal(bare.read(w), package.read(w)) for w in bare.weights)

    def test_a_missing_weights_folder_is_named(self, mlpackages, tmp_path) -> None:
        """A program whose blob file is missing says which file and which folder."""
        package = shutil.copytree(mlpackages["fp32_16"], tmp_path / "m.mlpackage")
        shutil.rmtree(package / "Data/com.apple.CoreML/weights")
        with pytest.raises(mlquant.InvalidModelError, match="weight.bin.*does not exist"):
            mlquant.load(package)

    def test_a_program_without_weights_loads(self, tmp_path) -> None:
        """A program with no constants loads with zero weights and saves."""
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb

        from ._mlprograms import convert, save

        @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))], opset_version=ct.target.iOS16)
        def prog(x):  # type: ignore[no-untyped-def]
            return mb.relu(x=x, name="out")

        model = mlquant.load(save(convert(prog, ct.target.iOS16, "fp32"), tmp_path / "relu.mlpackage"))
        assert model.weights == () and model.layer_summary() == ()
        model.save(tmp_path / "copy.mlpackage")

    def test_a_multi_function_package_names_its_functions(self, mlpackages, tmp_path) -> None:
        """A package with several functions loads its default one and warns which it leaves alone."""
        def add_function(spec) -> None:  # type: ignore[no-untyped-def]
            spec.mlProgram.functions["second"].CopyFrom(spec.mlProgram.functions["main"])
            spec.description.defaultFunctionName = "main"

        path = _rewrite(mlpackages["fp32_16"], tmp_path / "multi.mlpackage", add_function)
        with pytest.warns(mlquant.MlquantWarning, match=r"functions \(main, second\).*'main'.*second"):
            model = mlquant.load(path)
        assert model.function_name == "main" and len(model.weights) == 8

    def test_a_pipeline_holding_a_program_is_refused(self, mlpackages, tmp_path) -> None:
        """A pipeline whose models include an ML Program is an UnsupportedModelError saying so."""
        from coremltools.proto import Model_pb2

        pipeline = Model_pb2.Model()
        pipeline.specificationVersion = 7
        pipeline.description.CopyFrom(_spec(mlpackages["fp32_16"]).description)
        pipeline.pipeline.models.add().CopyFrom(_spec(mlpackages["fp32_16"]))
        path = tmp_path / "pipe.mlmodel"
        path.write_bytes(pipeline.SerializeToString())
        with pytest.raises(mlquant.UnsupportedModelError, match="pipeline holding an ML Program"):
            mlquant.load(path)

    def test_the_package_loads_as_coremltools_reads_it(self, mlpackages) -> None:
        """Loading works off macOS and gives the model's type and size."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = mlquant.load(mlpackages["fp16_16"])
        assert model.type == "mlProgram" and model.format == "mlprogram"
        files = [p for p in mlpackages["fp16_16"].rglob("*") if p.is_file()]
        assert abs(model.size_bytes - sum(p.stat().st_size for p in files)) < 64
